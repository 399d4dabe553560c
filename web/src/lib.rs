//! Placeholder: the dashboard crate arrives with issue 4.
