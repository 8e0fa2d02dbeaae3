//! MQTT packets: see the module docs.
