//! Routes from the registrations: matching, 405 `Allow` headers and CORS preflights.

use crate::kernel::feature::{Feature, Route};

#[derive(Debug, Clone, Copy)]
pub enum RouteMatch<'f> {
    Found(&'f Route),
    /// `OPTIONS` on a known path.
    Preflight(&'f Route),
    /// The path exists (as `route`), the method does not.
    MethodNotAllowed {
        route: &'f Route,
    },
    NotFound,
}

impl<'f> RouteMatch<'f> {
    /// The route the path belongs to, whatever the method.
    pub fn route(&self) -> Option<&'f Route> {
        match self {
            Self::Found(route) | Self::Preflight(route) | Self::MethodNotAllowed { route } => Some(route),
            Self::NotFound => None,
        }
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Whether `path` is an instance of `template`: `{p}` is the prefix, and a `{name}`
/// segment stands for any one non-empty segment.
pub fn matches(template: &str, prefix: &str, path: &str) -> bool {
    let (template, path) = match template.strip_prefix("{p}") {
        Some(rest) => match path.strip_prefix(prefix) {
            Some(path) => (rest, path),
            None => return false,
        },
        None => (template, path),
    };
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// Every route on `path`, in registration order.
fn on_path<'f>(features: &'f [&'f Feature], prefix: &str, path: &str) -> impl Iterator<Item = &'f Route> + 'f {
    let (prefix, path) = (prefix.to_owned(), path.to_owned());
    features
        .iter()
        .flat_map(|f| f.routes.iter())
        .filter(move |route| matches(route.path, &prefix, &path))
}

/// The `Allow` header of the path `route` is on: its methods, then `OPTIONS`.
pub fn allow(features: &[&Feature], prefix: &str, path: &str) -> String {
    let mut methods: Vec<&str> = on_path(features, prefix, path).map(|r| r.method).collect();
    methods.push("OPTIONS");
    methods.join(", ")
}

pub fn match_route<'f>(features: &'f [&'f Feature], prefix: &str, method: &str, path: &str) -> RouteMatch<'f> {
    let mut first = None;
    for route in on_path(features, prefix, path) {
        if route.method == method {
            return RouteMatch::Found(route);
        }
        first.get_or_insert(route);
    }
    match first {
        None => RouteMatch::NotFound,
        Some(route) if method == "OPTIONS" => RouteMatch::Preflight(route),
        Some(route) => RouteMatch::MethodNotAllowed { route },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler;
    use crate::kernel::feature::Ctx;
    use crate::kernel::problem::ApiError;
    use crate::kernel::web::{Request, Response};

    async fn ok(_: &Ctx<'_>, _: &Request) -> Result<Response, ApiError> {
        Ok(Response::empty(204))
    }

    const ROUTES: Feature = Feature {
        name: "test",
        routes: &[
            Route::new("GET", "/", handler!(ok), 200),
            Route::new("GET", "/health", handler!(ok), 200),
            Route::new("POST", "{p}/auth/login", handler!(ok), 200),
            Route::new("GET", "{p}/auth/sessions", handler!(ok), 200),
            Route::new("DELETE", "{p}/auth/sessions/{id}", handler!(ok), 204),
        ],
        limits: &[],
        mails: &[],
        settings: None,
        housekeeping: &[],
        sign_in_completed: None,
        second_factors: &[],
        startup: None,
        openapi: utoipa::openapi::OpenApi::default,
    };

    fn found(method: &str, path: &str) -> Option<String> {
        match match_route(&[&ROUTES], "/api", method, path) {
            RouteMatch::Found(route) => Some(format!("{route:?}")),
            _ => None,
        }
    }

    #[test]
    fn paths_and_methods_match_the_registrations() {
        assert_eq!(found("GET", "/").as_deref(), Some("GET /"));
        assert_eq!(found("POST", "/api/auth/login").as_deref(), Some("POST {p}/auth/login"));
        assert_eq!(
            found("DELETE", "/api/auth/sessions/abc").as_deref(),
            Some("DELETE {p}/auth/sessions/{id}")
        );
        for (method, path) in [
            ("POST", "/auth/login"),
            ("POST", "/api/auth/login/"),
            ("GET", "/api/auth/sessions/abc/extra"),
            ("DELETE", "/api/auth/sessions/"),
            ("GET", "/nowhere"),
            ("GET", "/apiauth/sessions"),
        ] {
            assert!(
                matches!(match_route(&[&ROUTES], "/api", method, path), RouteMatch::NotFound),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn other_methods_are_405_or_a_preflight() {
        let features = [&ROUTES];
        assert!(matches!(
            match_route(&features, "/api", "GET", "/api/auth/login"),
            RouteMatch::MethodNotAllowed { .. }
        ));
        assert_eq!(allow(&features, "/api", "/api/auth/login"), "POST, OPTIONS");
        assert_eq!(allow(&features, "/api", "/health"), "GET, OPTIONS");
        assert!(matches!(
            match_route(&features, "/api", "OPTIONS", "/api/auth/sessions"),
            RouteMatch::Preflight(_)
        ));
    }
}
