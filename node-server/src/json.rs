//! JSON as the node writes it: numbers with a fraction always in plain decimal.
//!
//! serde_json writes a float in its shortest round-trip digits but switches to an exponent
//! outside a middle range (`4e-6`, `1e21`): a margin of 4 µs would read `4e-6` beside a
//! `time_taken` of `0.000618368`. The formatters here write the same shortest digits, so
//! every `f64` parses back to the same bits (the ledger's `entry_hash` covers
//! `time_taken`'s), but never with an exponent. Every reply, event, ledger text and log line
//! the node writes goes through [`to_vec`], [`to_vec_pretty`] or [`to_string`].

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

/// Writes a finite float as plain decimal digits, shortest round-trip, always with a fraction
/// (`1.0`, not `1`, so it reads back as a float, and `-0.0` keeps its sign).
fn write_plain<W: ?Sized + io::Write>(writer: &mut W, text: String) -> io::Result<()> {
    writer.write_all(text.as_bytes())?;
    if !text.contains('.') {
        writer.write_all(b".0")?;
    }
    Ok(())
}

/// One-line JSON, as `serde_json::to_vec`, with plain-decimal floats.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compact;

impl Formatter for Compact {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        // Rust's `Display` for floats is the shortest round-trip decimal, and never uses an
        // exponent. serde_json calls this for finite values only (it writes `null` otherwise).
        write_plain(writer, value.to_string())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        write_plain(writer, value.to_string())
    }
}

/// Indented JSON (two spaces), as `serde_json::to_vec_pretty`, with plain-decimal floats.
#[derive(Clone, Debug, Default)]
pub struct Pretty(PrettyFormatter<'static>);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W $(, $arg: $ty)*) -> io::Result<()> {
            self.0.$name(writer $(, $arg)*)
        }
    )*};
}

impl Formatter for Pretty {
    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        begin_object_value();
        end_object_value();
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        Compact.write_f64(writer, value)
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        Compact.write_f32(writer, value)
    }
}

/// Serializes `value` as one line of JSON (no trailing newline).
pub fn to_vec<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out, Compact,
    ))?;
    Ok(out)
}

/// Serializes `value` as indented JSON (two spaces, no trailing newline).
pub fn to_vec_pretty<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        Pretty::default(),
    ))?;
    Ok(out)
}

/// Serializes `value` as one line of JSON, as a `String`.
pub fn to_string<T: ?Sized + Serialize>(value: &T) -> serde_json::Result<String> {
    // The serializer writes UTF-8 only.
    to_vec(value).map(|v| String::from_utf8(v).expect("serde_json writes UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EDGES: [f64; 16] = [
        1e-7,
        5e-324,
        1e21,
        0.1 + 0.2,
        4e-6,
        -0.0,
        0.0,
        1.0,
        -1.5,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        123_456_789.012_345_68,
        0.000_618_368,
        9_007_199_254_740_993.0,
        2.225_073_858_507_201e-308,
    ];

    #[test]
    fn floats_are_plain_decimals_that_round_trip_to_the_same_bits() {
        for x in EDGES {
            for text in [
                to_string(&x).unwrap(),
                String::from_utf8(to_vec_pretty(&x).unwrap()).unwrap(),
            ] {
                assert!(
                    text.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-'),
                    "{x:e} written as {text}"
                );
                assert!(text.contains('.'), "{x:e} written as {text}: no fraction");
                // serde_json, an independent parser, reads back the very same bits.
                let back: f64 = serde_json::from_str(&text).unwrap();
                assert_eq!(back.to_bits(), x.to_bits(), "{x:e} written as {text}");
                let value: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(value.as_f64().unwrap().to_bits(), x.to_bits());
            }
        }
        assert_eq!(to_string(&4e-6).unwrap(), "0.000004");
        assert_eq!(to_string(&1e21).unwrap(), "1000000000000000000000.0");
        assert_eq!(to_string(&(0.1 + 0.2)).unwrap(), "0.30000000000000004");
        assert_eq!(to_string(&-0.0).unwrap(), "-0.0");
        assert_eq!(to_string(&1e-7).unwrap(), "0.0000001");
        assert_eq!(to_string(&4e-6f32).unwrap(), "0.000004");
        // The shortest digits: exactly as many as serde_json's own (exponent) form has.
        for x in EDGES {
            let theirs = serde_json::to_string(&x).unwrap();
            let digits = |s: &str| {
                let mantissa = s.split(['e', 'E']).next().unwrap();
                mantissa
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .skip_while(|&b| b == b'0')
                    .collect::<Vec<u8>>()
                    .into_iter()
                    .rev()
                    .skip_while(|&b| b == b'0')
                    .count()
            };
            assert_eq!(
                digits(&to_string(&x).unwrap()),
                digits(&theirs),
                "{x:e}: ours {} theirs {theirs}",
                to_string(&x).unwrap()
            );
        }
    }

    #[test]
    fn everything_else_is_written_as_serde_json_writes_it() {
        let v = json!({
            "s": "quote \" backslash \\ tab \t ünï €",
            "n": 6907,
            "neg": -3,
            "b": [true, false, null],
            "o": {"nested": [1.5, {"x": 0.25}]},
            "nan": f64::NAN,
        });
        assert_eq!(to_vec(&v).unwrap(), serde_json::to_vec(&v).unwrap());
        assert_eq!(
            to_vec_pretty(&v).unwrap(),
            serde_json::to_vec_pretty(&v).unwrap()
        );
        assert_eq!(to_string(&v).unwrap(), serde_json::to_string(&v).unwrap());
        // Floats differ only where serde_json would use an exponent.
        let small = json!({"margin": 4e-6, "list": [1e-7]});
        assert_eq!(
            to_string(&small).unwrap(),
            r#"{"list":[0.0000001],"margin":0.000004}"#
        );
        assert_eq!(
            String::from_utf8(to_vec_pretty(&small).unwrap()).unwrap(),
            "{\n  \"list\": [\n    0.0000001\n  ],\n  \"margin\": 0.000004\n}"
        );
    }
}
