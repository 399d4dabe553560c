//! Property tests for every parser and encoder a client or a file can reach: the line
//! protocol, the ledger's text, `verify`, the replies and the events. The fuzz targets in
//! `fuzz/` push the two parsers further; these run with the normal suite.

use std::sync::Arc;

use node_server::events::{Event, EventKind, Work};
use node_server::ledger;
use node_server::limits::MAX_LINE_BYTES;
use node_server::net::protocol::{self, ErrorCode, ErrorReply, LineError, Outcome, Reply};
use pow_core::chain::{verify_chain, Entry, RaceMode};
use pow_core::{Difficulty, Hash32};
use proptest::prelude::*;

fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite())
}

prop_compose! {
    fn entry()(
        node in "[A-Za-z0-9]{1,8}",
        transaction_data in any::<String>(),
        nonce in any::<u64>(),
        hash in hash(),
        time_taken in finite(),
        start_time in any::<String>(),
        end_time in any::<String>(),
        difficulty in any::<u32>(),
        lottery in any::<bool>(),
        difficulty_bits in proptest::option::of(any::<u32>()),
        target_time_us in proptest::option::of(any::<u64>()),
        index in any::<u64>(),
        tx_id in hash(),
        prev_hash in hash(),
        entry_hash in hash(),
    ) -> Entry {
        let race = if lottery { RaceMode::Lottery } else { RaceMode::Lab };
        Entry { node, transaction_data, nonce, hash, time_taken, start_time, end_time,
                difficulty, race, difficulty_bits, target_time_us, index, tx_id, prev_hash,
                entry_hash }
    }
}

/// A valid chain of `data.len()` entries at difficulty 0 (any nonce solves it).
fn chain(data: &[String], times: &[f64]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, (d, t)) in data.iter().zip(times).enumerate() {
        let s = pow_core::search::solve(d.as_bytes(), Difficulty::from_zero_bytes(0).unwrap())
            .solution
            .unwrap();
        entries.push(
            Entry {
                node: format!("Node{}", i % 3 + 1),
                transaction_data: d.clone(),
                nonce: s.nonce,
                hash: s.hash,
                time_taken: *t,
                start_time: "2025-02-13 19:16:07.019815".into(),
                end_time: "2025-02-13 19:16:07.087422".into(),
                difficulty: 0,
                index: i as u64,
                tx_id: Hash32::digest(d.as_bytes()),
                prev_hash: entries.last().map_or(Hash32::ZERO, |e| e.entry_hash),
                entry_hash: Hash32::ZERO,
                ..Default::default()
            }
            .seal(),
        );
    }
    entries
}

fn flip(h: &mut Hash32, bit: usize) {
    h.0[bit / 8 % 32] ^= 1 << (bit % 8);
}

/// Changes one field of `e`, always to a different value.
fn mutate(e: &mut Entry, field: usize, bit: usize) {
    match field {
        0 => e.node.push('x'),
        1 => e.transaction_data.push('x'),
        2 => e.nonce = e.nonce.wrapping_add(1 + bit as u64),
        3 => flip(&mut e.hash, bit),
        4 => e.time_taken += 1.0,
        5 => e.start_time = "2025-02-13 19:16:06.000000".into(),
        6 => e.end_time = "2025-02-13 19:16:08.000000".into(),
        7 => e.difficulty += 1,
        8 => e.index += 1,
        9 => flip(&mut e.tx_id, bit),
        10 => flip(&mut e.prev_hash, bit),
        // The experiment's fields, which a lab entry does not carry: adding one is a change.
        12 => e.race = RaceMode::Lottery,
        13 => e.difficulty_bits = Some(e.difficulty * 8 + (bit % 8) as u32),
        14 => e.target_time_us = Some(bit as u64),
        _ => flip(&mut e.entry_hash, bit),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/props.proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn parse_line_never_panics_and_accepts_only_clean_lines(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        match protocol::parse_line(&raw) {
            Ok(text) => {
                prop_assert!(!text.is_empty() && text.len() <= MAX_LINE_BYTES);
                prop_assert!(text.chars().all(|c| c == '\t' || !c.is_control()));
                prop_assert!(raw == text.as_bytes() || raw == [text.as_bytes(), b"\r"].concat());
            }
            Err(e) => {
                // Every refusal has its code.
                let _ = e.code();
            }
        }
    }

    #[test]
    fn clean_lines_round_trip_with_either_ending(text in "([^\\p{Cc}]|\t){1,200}") {
        prop_assert_eq!(protocol::parse_line(text.as_bytes()), Ok(text.as_str()));
        let crlf = format!("{text}\r");
        prop_assert_eq!(protocol::parse_line(crlf.as_bytes()), Ok(text.as_str()));
    }

    #[test]
    fn ledger_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = ledger::parse(&bytes);
    }

    #[test]
    fn ledger_text_round_trips(entries in proptest::collection::vec(entry(), 0..4)) {
        let text = ledger::to_text(&entries);
        prop_assert_eq!(ledger::parse(&text).unwrap(), entries.clone());
        // Standard JSON too: what other tools read.
        let plain: Vec<Entry> = serde_json::from_slice(&text).unwrap();
        prop_assert_eq!(plain, entries);
    }

    #[test]
    fn a_cut_or_damaged_ledger_never_panics_and_a_cut_one_is_refused(
        entries in proptest::collection::vec(entry(), 1..4),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let text = ledger::to_text(&entries);
        // Cut anywhere before the closing bracket: never a shorter valid ledger.
        let close = text.iter().rposition(|&b| b == b']').unwrap();
        // (Cut at 0 leaves an empty file, which is an empty ledger.)
        let cut = 1 + cut.index(close - 1);
        prop_assert!(ledger::parse(&text[..cut]).is_err(), "cut at {}", cut);
        let mut damaged = text.clone();
        damaged[at.index(text.len())] = byte;
        let _ = ledger::parse(&damaged);
    }

    #[test]
    fn verify_catches_every_single_field_change(
        data in proptest::collection::vec("[a-z ]{1,12}", 1..5).prop_map(|mut d| {
            // One entry per transaction.
            for (i, s) in d.iter_mut().enumerate() { s.push_str(&i.to_string()); }
            d
        }),
        times in proptest::collection::vec(0.0f64..10.0, 5),
        which in any::<prop::sample::Index>(),
        field in 0usize..15,
        bit in 0usize..256,
    ) {
        let good = chain(&data, &times);
        prop_assert!(verify_chain(&good).is_ok());
        let i = which.index(good.len());
        let mut bad = good.clone();
        mutate(&mut bad[i], field, bit);
        prop_assert_ne!(&bad[i], &good[i]);
        let err = verify_chain(&bad).unwrap_err();
        prop_assert_eq!(err.position, i, "field {} of entry {}: {}", field, i, err);
        // And through the file, as `verify` reads it.
        let reparsed = ledger::parse(&ledger::to_text(&bad)).unwrap();
        prop_assert_eq!(verify_chain(&reparsed).unwrap_err().position, i);
    }

    #[test]
    fn replies_round_trip(
        e in entry(),
        outcome in prop_oneof![Just(Outcome::Won), Just(Outcome::Lost), Just(Outcome::Aborted), Just(Outcome::Recorded)],
        node in "[A-Za-z0-9]{1,8}",
        figures in proptest::option::of((any::<String>(), finite(), any::<u64>())),
        margin in proptest::option::of(finite()),
        error in any::<String>(),
    ) {
        let reply = Reply {
            node: node.clone(),
            outcome,
            tx_id: e.tx_id,
            transaction_data: e.transaction_data.clone(),
            difficulty: e.difficulty,
            winner: e.node.clone(),
            nonce: e.nonce,
            hash: e.hash,
            start_time: figures.as_ref().map(|f| f.0.clone()),
            end_time: figures.as_ref().map(|f| f.0.clone()),
            time_taken: figures.as_ref().map(|f| f.1),
            hashes: figures.as_ref().map(|f| f.2),
            margin,
            entry: e,
        };
        let line = protocol::to_line(&reply);
        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        prop_assert_eq!(*line.last().unwrap(), b'\n');
        let back: Reply = serde_json::from_slice(&line).unwrap();
        prop_assert_eq!(back, reply);

        let refusal = ErrorReply { error, code: LineError::Empty.code(), node };
        let line = protocol::to_line(&refusal);
        prop_assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: ErrorReply = serde_json::from_slice(&line).unwrap();
        prop_assert_eq!(back.code, ErrorCode::EmptyLine);
        prop_assert_eq!(back, refusal);
    }

    #[test]
    fn events_encode_as_one_json_object_with_their_type(
        data in any::<String>(),
        text in any::<String>(),
        e in entry(),
        seq in any::<u64>(),
        nonce in any::<u64>(),
        time_taken in finite(),
        kind in 0usize..4,
    ) {
        let work = Work {
            nonce,
            hash: e.hash,
            time_taken,
            hashes: nonce,
            start_time: text.clone(),
            end_time: text.clone(),
            ..Default::default()
        };
        let kind = match kind {
            0 => EventKind::Received { peer: text.clone() },
            1 => EventKind::Error { error: text.clone() },
            2 => EventKind::Won { work: work.clone(), entry: Box::new(e.clone()), ledger_id: e.entry_hash },
            _ => EventKind::Lost { winner: text.clone(), margin: Some(time_taken), work: Some(work), aborted: false, hashes: None, time_taken: None, start_time: None },
        };
        let name = kind.name();
        let tx_id = Hash32::digest(data.as_bytes());
        let event = Event {
            seq,
            node: Arc::from("Node1"),
            tx_id: Some(tx_id),
            transaction_data: Some(Arc::from(data.as_str())),
            difficulty: 2,
            at: "2025-02-13 19:16:07.019815".into(),
            at_us: 0,
            kind,
        };
        let json = serde_json::to_string(&event).unwrap();
        prop_assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(v["type"].as_str(), Some(name));
        prop_assert_eq!(v["seq"].as_u64(), Some(seq));
        prop_assert_eq!(v["transaction_data"].as_str(), Some(data.as_str()));
        prop_assert_eq!(v["tx_id"].as_str().unwrap(), tx_id.to_string());
        if name == "won" {
            let entry: Entry = serde_json::from_value(v["entry"].clone()).unwrap();
            prop_assert_eq!(entry, e);
            prop_assert_eq!(v["nonce"].as_u64(), Some(nonce));
        }
    }
}
