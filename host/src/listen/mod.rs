//! Listeners: what each transport adds between an accepted socket and MQTT.

pub mod tls;
