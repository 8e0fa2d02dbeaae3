//! What a server error says about the connection it came on.

/// Server errors after which the same commands succeed later, or on
/// another server: worth sending again.
pub fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "READONLY"
            | "LOADING"
            | "MASTERDOWN"
            | "CLUSTERDOWN"
            | "TRYAGAIN"
            | "BUSY"
            | "NOREPLICAS"
            | "MISCONF"
            | "NOAUTH"
            | "OOM"
    )
}

/// Whether a server error means this connection talks to the wrong server
/// now (a demoted master), so the next attempt must connect afresh.
pub fn needs_new_connection(code: &str) -> bool {
    matches!(code, "READONLY" | "MASTERDOWN" | "NOAUTH")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_is_transient_and_wrongtype_is_not() {
        assert!(is_transient("READONLY"));
        assert!(needs_new_connection("READONLY"));
        assert!(!is_transient("WRONGTYPE"));
        assert!(!is_transient("ERR"));
    }
}
