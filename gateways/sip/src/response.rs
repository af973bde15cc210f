//! Reading the parts of a SIP response (and answering an in-dialog request) that rsip keeps
//! untyped or nested: status code, CSeq, Contact URI, To tag, reliable-provisional `RSeq`
//! (RFC 3261 §8.1.3, §12.1.2; RFC 3262 §3). Pure functions, used by [`crate::call`].

use rsip::prelude::*;
use rsip::{Header, Request, Response, Uri};

/// A 200 OK to an in-dialog request (the callee's BYE): its Via, From, To, Call-ID and CSeq.
pub fn ok_to(request: &Request) -> Response {
    let mut headers = rsip::Headers::default();
    for header in request.headers.iter() {
        if matches!(
            header,
            Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::CSeq(_)
        ) {
            headers.push(header.clone());
        }
    }
    headers.push(rsip::headers::ContentLength::new("0").into());
    Response {
        status_code: rsip::StatusCode::OK,
        version: rsip::Version::V2,
        headers,
        body: Vec::new(),
    }
}

pub fn code_of(response: &Response) -> u16 {
    response.status_code.code()
}

/// The CSeq number and method of a response.
pub fn cseq_of(response: &Response) -> Option<(u32, String)> {
    let value = response.cseq_header().ok()?.value().to_string();
    let (number, method) = value.trim().split_once(char::is_whitespace)?;
    Some((number.parse().ok()?, method.trim().to_ascii_uppercase()))
}

/// The URI inside the Contact of a response (`<sip:x@h>;params` or `sip:x@h`).
pub fn contact_uri(response: &Response) -> Option<Uri> {
    response.headers.iter().find_map(|h| match h {
        Header::Contact(contact) => contact.uri().ok(),
        _ => None,
    })
}

/// The To tag of a response (the callee's half of the dialog id), empty when absent.
pub fn to_tag_of(response: &Response) -> String {
    let to = response.to_header().map(|t| t.value().to_string()).unwrap_or_default();
    to.split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .unwrap_or_default()
        .to_owned()
}

/// The value of an extension header (`RSeq`, ...) rsip keeps untyped.
pub fn other_header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers.iter().find_map(|h| match h {
        Header::Other(key, value) if key.eq_ignore_ascii_case(name) => Some(value.as_str()),
        _ => None,
    })
}

/// A provisional response sent reliably: `Require: 100rel` and an `RSeq` (RFC 3262 §3).
pub fn rseq_of(response: &Response) -> Option<u32> {
    let requires_100rel = response.headers.iter().any(|h| match h {
        Header::Require(require) => require
            .value()
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("100rel")),
        _ => false,
    });
    if !requires_100rel {
        return None;
    }
    other_header(response, "RSeq")?.trim().parse().ok()
}
