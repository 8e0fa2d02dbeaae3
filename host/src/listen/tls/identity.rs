//! Who a verified client certificate names: its common name and its
//! subject, as `peer_cert_as_username` and authentication use them.

use x509_cert::der::asn1::{
    BmpString, Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef,
};
use x509_cert::der::oid::db::rfc4519::CN;
use x509_cert::der::{Decode, Tag, Tagged};
use x509_cert::{attr::AttributeTypeAndValue, Certificate};

use crate::hooks::decide::PeerCert;

/// Reads the subject of a DER certificate. rustls has already parsed and
/// verified it; this parse is only for the names.
///
/// The common name: several are joined with `,`, as EMQX does. The
/// subject: an RFC 4514 string, as EMQX's `dn` gives it, the most specific
/// part first (`CN=dev-1,O=Acme` for a certificate made with `-subj
/// /O=Acme/CN=dev-1`), special characters escaped, a value that is not a
/// string as `#` and its DER in hex.
pub fn peer_cert(der: &[u8]) -> Result<PeerCert, String> {
    let cert = Certificate::from_der(der)
        .map_err(|error| format!("unreadable client certificate: {error}"))?;
    let subject = &cert.tbs_certificate.subject;
    let names: Vec<String> = subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == CN)
        .filter_map(text)
        .collect();
    Ok(PeerCert {
        common_name: (!names.is_empty()).then(|| names.join(",")),
        subject: subject.to_string(),
    })
}

/// An attribute's value when it is one of the string types names use.
fn text(atv: &AttributeTypeAndValue) -> Option<String> {
    let value = &atv.value;
    match value.tag() {
        Tag::Utf8String => value
            .decode_as::<Utf8StringRef>()
            .ok()
            .map(|s| s.to_string()),
        Tag::PrintableString => value
            .decode_as::<PrintableStringRef>()
            .ok()
            .map(|s| s.to_string()),
        Tag::Ia5String => value
            .decode_as::<Ia5StringRef>()
            .ok()
            .map(|s| s.to_string()),
        Tag::TeletexString => value
            .decode_as::<TeletexStringRef>()
            .ok()
            .map(|s| s.to_string()),
        Tag::BmpString => value.decode_as::<BmpString>().ok().map(|s| s.to_string()),
        _ => None,
    }
}
