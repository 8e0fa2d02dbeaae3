//! `auth_redis`: authentication and ACLs kept in Redis, in the layout and
//! with the configuration keys of EMQX 4's `emqx_auth_redis`.
//!
//! This crate holds the parts that do not talk to Redis: password hashes
//! ([`hash`]), the lookup commands ([`template`]) and the rules an ACL
//! lookup returns ([`acl`]). It exports no plugin yet: one that read its
//! configuration and then answered nothing would look like access control
//! while it let everything through to the next source.

#![forbid(unsafe_code)]

pub mod acl;
pub mod hash;
pub mod template;
