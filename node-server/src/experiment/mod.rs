//! The experiment: what the nodes' attempts logs say, compared and charted.
//!
//! - [`report`]: `report`: the nodes compared, and the experiment's figures, in bounded memory.
//! - [`plot`]: the report's charts as one SVG or PNG (`report --plot`).

pub mod plot;
pub mod report;
