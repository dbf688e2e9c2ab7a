//! Requests and responses as plain data.

use std::cell::OnceCell;
use std::fmt;
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The query string, without `?` (still percent-encoded); empty without one.
    pub query: String,
    /// Header names are lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body was longer than `body::MAX_BODY_BYTES` and was not read to its end (the
    /// route answers 413).
    pub oversized: bool,
    /// `scheme://host[:port]` of the URL the request was sent to.
    pub origin: String,
    /// Where Cloudflare places the client (`request.cf`), read when a route asks.
    pub place: Place,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            oversized: false,
            origin: "http://localhost".to_owned(),
            place: Place::default(),
        }
    }

    /// `https://host:8443` of an absolute URL.
    pub fn origin_of(url: &str) -> String {
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
                let host = authority.rsplit('@').next().unwrap_or(authority);
                format!("{scheme}://{host}")
            }
            None => String::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The query of an absolute URL (`https://host/a?q=1#f` gives `q=1`), still encoded.
    pub fn query_of(url: &str) -> String {
        let before_fragment = &url[..url.find('#').unwrap_or(url.len())];
        before_fragment
            .split_once('?')
            .map_or(String::new(), |(_, query)| query.to_owned())
    }

    /// The path of an absolute URL as the runtime normalised it (`https://host/a/b?q#f`
    /// gives `/a/b`), still percent-encoded. Cheaper than a URL parser: the `url` crate
    /// brings IDNA tables the Worker never needs.
    pub fn path_of(url: &str) -> String {
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let rest = after_scheme
            .find(['/', '?', '#'])
            .map_or("", |start| &after_scheme[start..]);
        let path = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// Where Cloudflare places the client: ISO 3166-1 alpha-2 country, and city.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub country: Option<String>,
    pub city: Option<String>,
}

/// A request's `Location`, found at most once and only when asked for: the platform builds
/// `request.cf` from its JSON on first access, a cost every request would pay otherwise,
/// though only the routes that start a session record where it was started.
#[derive(Clone, Default)]
pub struct Place(Rc<PlaceCell>);

#[derive(Default)]
struct PlaceCell {
    find: Option<Box<dyn Fn() -> Location>>,
    found: OnceCell<Location>,
}

impl Place {
    pub fn deferred(find: impl Fn() -> Location + 'static) -> Self {
        Self(Rc::new(PlaceCell {
            find: Some(Box::new(find)),
            found: OnceCell::new(),
        }))
    }

    pub fn get(&self) -> &Location {
        self.0
            .found
            .get_or_init(|| self.0.find.as_ref().map(|find| find()).unwrap_or_default())
    }
}

impl fmt::Debug for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Place").field(self.get()).finish()
    }
}

impl PartialEq for Place {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Place {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Self {
        Self::new(
            status,
            "application/json",
            serde_json::to_vec(value).expect("response bodies serialise"),
        )
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::{Location, Place, Request};

    #[test]
    fn a_place_is_found_only_when_asked_for_and_only_once() {
        let asked = Rc::new(Cell::new(0));
        let counter = asked.clone();
        let place = Place::deferred(move || {
            counter.set(counter.get() + 1);
            Location {
                country: Some("FR".into()),
                city: None,
            }
        });
        let request = Request {
            place: place.clone(),
            ..Request::new("POST", "/login")
        };
        assert_eq!(asked.get(), 0, "not found while nobody asks");
        assert_eq!(request.place.get().country.as_deref(), Some("FR"));
        assert_eq!(place.get().country.as_deref(), Some("FR"));
        assert_eq!(asked.get(), 1, "found once, for every copy of the request");
        assert_eq!(Place::default().get(), &Location::default());
    }

    #[test]
    fn the_origin_of_a_url_is_its_scheme_and_authority() {
        let cases = [
            ("https://auth.example.com/a/b?x", "https://auth.example.com"),
            ("http://127.0.0.1:8787/health", "http://127.0.0.1:8787"),
            ("https://user@example.com:443//x", "https://example.com:443"),
            ("https://example.com", "https://example.com"),
            ("https://example.com?q", "https://example.com"),
        ];
        for (url, origin) in cases {
            assert_eq!(Request::origin_of(url), origin, "{url}");
        }
    }

    #[test]
    fn the_path_of_a_url_drops_origin_query_and_fragment() {
        let cases = [
            ("https://auth.example.com/balance_hub/auth/me", "/balance_hub/auth/me"),
            ("http://127.0.0.1:8787/health?full=1", "/health"),
            ("https://example.com/a%20b/c#top", "/a%20b/c"),
            ("https://example.com/?q=/x", "/"),
            ("https://example.com", "/"),
            ("https://example.com#frag", "/"),
            ("https://example.com?next=/admin", "/"),
            ("https://user@example.com:443//double//slash", "//double//slash"),
        ];
        for (url, path) in cases {
            assert_eq!(Request::path_of(url), path, "{url}");
        }
    }
}
