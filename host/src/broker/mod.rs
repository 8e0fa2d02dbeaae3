//! The broker's routing state: topic rules and the subscription tree.

pub mod subscriptions;
pub mod topic;
