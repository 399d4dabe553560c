//! The dashboard's files, built into the binary (issue 4 fills this in).

/// The bytes and content type of the dashboard file at `path` (e.g. `/`, `/app.js`).
pub fn get(path: &str) -> Option<(&'static [u8], &'static str)> {
    let _ = path;
    None
}
