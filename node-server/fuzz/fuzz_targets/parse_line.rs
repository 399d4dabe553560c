//! Any bytes as a transaction line: never a panic; an accepted line is clean and parses to
//! itself with either ending.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node_server::protocol::parse_line;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = parse_line(data) {
        assert!(!text.is_empty());
        assert!(text.chars().all(|c| c == '\t' || !c.is_control()));
        assert_eq!(parse_line(text.as_bytes()), Ok(text));
        let crlf = [text.as_bytes(), b"\r"].concat();
        assert_eq!(parse_line(&crlf), Ok(text));
    }
});
