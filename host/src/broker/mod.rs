//! The broker's routing state, starting with the rules for topic names and
//! filters.

pub mod topic;
