//! Where the requests of a dialog go: the route set and remote target learnt from the callee's
//! 2xx (RFC 3261 §12.1.2), turned into each request's Request-URI, Route headers and next hop
//! (§12.2.1.1, loose `;lr` and strict routers), and the preloaded route of an outbound proxy
//! (§8.1.2).

use crate::transport::{Hop, Transport};
use rsip::headers::untyped::ToTypedHeader;
use rsip::{Header, Param, Response, Uri, UriWithParams};

/// The route set of a UAC's dialog: the response's Record-Route URIs in reverse order
/// (§12.1.2), across every Record-Route header and every comma-separated value in each.
/// Unparseable values are skipped (the dialog then routes as the rest allows).
pub fn route_set(response: &Response) -> Vec<UriWithParams> {
    let mut routes: Vec<UriWithParams> = response
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::RecordRoute(record_route) => record_route.typed().ok(),
            _ => None,
        })
        .flat_map(|typed| typed.uris().to_vec())
        .collect();
    routes.reverse();
    routes
}

/// The route an outbound proxy puts in front of every request (`<sip:proxy;lr>`), with the
/// transport parameter when it is not UDP.
pub fn preloaded_route(proxy: &Hop, transport: Transport) -> UriWithParams {
    let text = format!("sip:{proxy};lr{}", transport.uri_param());
    UriWithParams {
        uri: Uri::try_from(text).unwrap_or_default(),
        params: vec![],
    }
}

/// How to send one request: its Request-URI, its Route header values (in order) and the hop
/// the message itself goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub request_uri: Uri,
    pub routes: Vec<String>,
    pub next_hop: Hop,
}

/// Applies §12.2.1.1 to a remote target and a route set: with no route, straight to the remote
/// target; with a loose router first (`;lr`), the Request-URI stays the remote target and the
/// request goes to the first route; with a strict router, the first route becomes the
/// Request-URI and the remote target joins the end of the Route list.
pub fn target(remote_target: &Uri, routes: &[UriWithParams], transport: Transport) -> Target {
    let Some(first) = routes.first() else {
        return Target {
            request_uri: remote_target.clone(),
            routes: vec![],
            next_hop: Hop::of_uri(remote_target, transport),
        };
    };
    let values = |list: &[UriWithParams]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    if first.uri.params.contains(&Param::Lr) {
        Target {
            request_uri: remote_target.clone(),
            routes: values(routes),
            next_hop: Hop::of_uri(&first.uri, transport),
        }
    } else {
        let mut request_uri = first.uri.clone();
        // §19.1.1: method and header parameters are not allowed in a Request-URI.
        request_uri.params.retain(|p| !matches!(p, Param::Method(_)));
        request_uri.headers.clear();
        let mut rest = values(&routes[1..]);
        rest.push(format!("<{remote_target}>"));
        Target {
            next_hop: Hop::of_uri(&request_uri, transport),
            request_uri,
            routes: rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(record_routes: &[&str]) -> Response {
        let mut text = String::from("SIP/2.0 200 OK\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n");
        for rr in record_routes {
            text.push_str(&format!("Record-Route: {rr}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        Response::try_from(text.as_bytes()).unwrap()
    }

    fn uri(text: &str) -> Uri {
        Uri::try_from(text).unwrap()
    }

    #[test]
    fn the_route_set_is_every_record_route_reversed() {
        let routes = route_set(&response(&[
            "<sip:p3.example.net;lr>",
            "<sip:p2.example.net:5070;lr>, <sip:p1.example.net;lr;transport=tcp>",
        ]));
        let hosts: Vec<String> = routes
            .iter()
            .map(|r| Hop::of_uri(&r.uri, Transport::Udp).to_string())
            .collect();
        assert_eq!(
            hosts,
            ["p1.example.net:5060", "p2.example.net:5070", "p3.example.net:5060"]
        );
        assert!(route_set(&response(&[])).is_empty());
    }

    #[test]
    fn loose_routing_keeps_the_remote_target_and_goes_to_the_first_route() {
        let routes = route_set(&response(&["<sip:edge.example.net:5070;lr>", "<sip:10.0.0.9;lr>"]));
        let target = target(&uri("sip:callee@192.0.2.5:5062"), &routes, Transport::Udp);
        assert_eq!(target.request_uri.to_string(), "sip:callee@192.0.2.5:5062");
        assert_eq!(target.routes, ["<sip:10.0.0.9;lr>", "<sip:edge.example.net:5070;lr>"]);
        assert_eq!(target.next_hop.to_string(), "10.0.0.9:5060");
    }

    #[test]
    fn strict_routing_puts_the_first_route_in_the_request_uri() {
        let routes = route_set(&response(&["<sip:p2.example.net;lr>", "<sip:p1.example.net:5080>"]));
        let target = target(&uri("sip:callee@192.0.2.5"), &routes, Transport::Udp);
        assert_eq!(target.request_uri.to_string(), "sip:p1.example.net:5080");
        assert_eq!(target.routes, ["<sip:p2.example.net;lr>", "<sip:callee@192.0.2.5>"]);
        assert_eq!(target.next_hop.to_string(), "p1.example.net:5080");
    }

    #[test]
    fn without_routes_the_request_goes_to_the_remote_target() {
        let target = target(&uri("sip:callee@192.0.2.5:5062"), &[], Transport::Tcp);
        assert!(target.routes.is_empty());
        assert_eq!(target.next_hop.to_string(), "192.0.2.5:5062");
        let proxy = preloaded_route(&Hop::parse("proxy.example.net:5070").unwrap(), Transport::Tcp);
        // rsip writes the transport token in capitals; URI parameters are case-insensitive.
        assert_eq!(
            proxy.to_string().to_ascii_lowercase(),
            "<sip:proxy.example.net:5070;lr;transport=tcp>"
        );
        let via_proxy = super::target(&uri("sip:15550100@trunk.example.net"), &[proxy], Transport::Tcp);
        assert_eq!(via_proxy.next_hop.to_string(), "proxy.example.net:5070");
        assert_eq!(via_proxy.request_uri.to_string(), "sip:15550100@trunk.example.net");
    }
}
