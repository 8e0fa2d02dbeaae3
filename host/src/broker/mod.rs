//! The broker's routing state: topic rules, the subscription tree and the
//! retained-message store.

pub mod retained;
pub mod subscriptions;
pub mod topic;
