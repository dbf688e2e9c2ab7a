//! Routes as data: one table gives matching, 405 `Allow` headers and CORS preflights.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Root,
    Health,
    Metrics,
    OpenApi,
    Register,
    VerifyEmail,
    ResendVerification,
    Login,
    Logout,
    Me,
    UpdateUser,
    ForgetPassword,
    ResetPassword,
}

/// `{p}` stands for `API_PREFIX`.
pub(crate) const ROUTES: &[(Route, &str, &str)] = &[
    (Route::Root, "GET", "/"),
    (Route::Health, "GET", "/health"),
    (Route::Metrics, "GET", "/metrics"),
    (Route::OpenApi, "GET", "/openapi.json"),
    (Route::Register, "POST", "{p}/auth/register"),
    (Route::VerifyEmail, "POST", "{p}/auth/verify-email"),
    (Route::ResendVerification, "POST", "{p}/auth/resend-verification"),
    (Route::Login, "POST", "{p}/auth/login"),
    (Route::Logout, "POST", "{p}/auth/logout"),
    (Route::Me, "GET", "{p}/auth/me"),
    (Route::UpdateUser, "PUT", "{p}/auth/update-user"),
    (Route::ForgetPassword, "POST", "{p}/auth/password/forget"),
    (Route::ResetPassword, "POST", "{p}/auth/password/reset"),
];

impl Route {
    fn entry(self) -> &'static (Route, &'static str, &'static str) {
        ROUTES
            .iter()
            .find(|(r, _, _)| *r == self)
            .expect("every route is in the table")
    }

    /// The path template, with `{p}` for the prefix: what logs and metrics name.
    pub fn template(self) -> &'static str {
        self.entry().2
    }

    pub fn method(self) -> &'static str {
        self.entry().1
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch {
    Found(Route),
    /// `OPTIONS` on a known path.
    Preflight(Route),
    /// The path exists (as this route), the method does not; `allow` is the `Allow` header.
    MethodNotAllowed {
        route: Route,
        allow: String,
    },
    NotFound,
}

impl RouteMatch {
    /// The route the path belongs to, whatever the method.
    pub fn route(&self) -> Option<Route> {
        match self {
            Self::Found(route) | Self::Preflight(route) | Self::MethodNotAllowed { route, .. } => Some(*route),
            Self::NotFound => None,
        }
    }
}

pub fn match_route(prefix: &str, method: &str, path: &str) -> RouteMatch {
    let on_path: Vec<Route> = ROUTES
        .iter()
        .filter(|(_, _, template)| match template.strip_prefix("{p}") {
            Some(rest) => path.strip_prefix(prefix) == Some(rest),
            None => path == *template,
        })
        .map(|(route, _, _)| *route)
        .collect();
    let Some(first) = on_path.first().copied() else {
        return RouteMatch::NotFound;
    };
    if let Some(route) = on_path.iter().find(|r| r.method() == method) {
        return RouteMatch::Found(*route);
    }
    if method == "OPTIONS" {
        return RouteMatch::Preflight(first);
    }
    let mut allow: Vec<&str> = on_path.iter().map(|r| r.method()).collect();
    allow.push("OPTIONS");
    RouteMatch::MethodNotAllowed {
        route: first,
        allow: allow.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_match_the_table() {
        let cases: &[(&str, &str, RouteMatch)] = &[
            ("GET", "/", RouteMatch::Found(Route::Root)),
            ("POST", "/api/auth/login", RouteMatch::Found(Route::Login)),
            ("PUT", "/api/auth/update-user", RouteMatch::Found(Route::UpdateUser)),
            (
                "GET",
                "/api/auth/login",
                RouteMatch::MethodNotAllowed {
                    route: Route::Login,
                    allow: "POST, OPTIONS".into(),
                },
            ),
            (
                "DELETE",
                "/health",
                RouteMatch::MethodNotAllowed {
                    route: Route::Health,
                    allow: "GET, OPTIONS".into(),
                },
            ),
            ("OPTIONS", "/api/auth/me", RouteMatch::Preflight(Route::Me)),
            ("POST", "/auth/login", RouteMatch::NotFound),
            ("POST", "/api/auth/login/", RouteMatch::NotFound),
            ("GET", "/api/auth/me/extra", RouteMatch::NotFound),
            ("GET", "/nowhere", RouteMatch::NotFound),
        ];
        for (method, path, expected) in cases {
            assert_eq!(&match_route("/api", method, path), expected, "{method} {path}");
        }
    }
}
