//! The route table: one source of truth for methods, paths and the Lambda that serves each.

/// Every route of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteId {
    /// `POST /v1/sign-in`
    SignIn,
    /// `POST /v1/verification-email`
    SendVerificationEmail,
    /// `POST /v1/verification-email/confirm`
    ConfirmEmailCode,
    /// `POST /v1/device`
    LinkDevice,
    /// `POST /v1/totp/verify`
    VerifyTotp,
    /// `POST /v1/me/device/reset`
    ResetDevice,
    /// `POST /v1/sign-out`
    SignOut,
    /// `GET /v1/me`
    Me,
    /// `GET /v1/accounts/{account_id}/policy`
    GetPolicy,
    /// `PUT /v1/accounts/{account_id}/policy`
    PutPolicy,
    /// `PUT /v1/accounts/{account_id}/device-groups/{group}`
    PutDeviceGroup,
    /// `GET /v1/accounts/{account_id}/policy/preflight`
    Preflight,
    /// `GET /v1/accounts/{account_id}/events`
    Events,
    /// `POST /v1/accounts/{account_id}/users/{user_id}/device/reset`
    AdminResetDevice,
}

/// One route: method, path template (`{name}` for a segment) and the function that serves it.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// Which route.
    pub id: RouteId,
    /// HTTP method.
    pub method: &'static str,
    /// Path template.
    pub path: &'static str,
    /// The Lambda function (folder under `functions/`) that serves it.
    pub function: &'static str,
}

/// All routes.
pub const ROUTES: &[Route] = &[
    Route {
        id: RouteId::SignIn,
        method: "POST",
        path: "/v1/sign-in",
        function: "sign-in",
    },
    Route {
        id: RouteId::SendVerificationEmail,
        method: "POST",
        path: "/v1/verification-email",
        function: "send-verification-email",
    },
    Route {
        id: RouteId::ConfirmEmailCode,
        method: "POST",
        path: "/v1/verification-email/confirm",
        function: "confirm-email-code",
    },
    Route {
        id: RouteId::LinkDevice,
        method: "POST",
        path: "/v1/device",
        function: "link-device",
    },
    Route {
        id: RouteId::VerifyTotp,
        method: "POST",
        path: "/v1/totp/verify",
        function: "verify-totp",
    },
    Route {
        id: RouteId::ResetDevice,
        method: "POST",
        path: "/v1/me/device/reset",
        function: "reset-device",
    },
    Route {
        id: RouteId::SignOut,
        method: "POST",
        path: "/v1/sign-out",
        function: "session",
    },
    Route {
        id: RouteId::Me,
        method: "GET",
        path: "/v1/me",
        function: "session",
    },
    Route {
        id: RouteId::GetPolicy,
        method: "GET",
        path: "/v1/accounts/{account_id}/policy",
        function: "set-policy",
    },
    Route {
        id: RouteId::PutPolicy,
        method: "PUT",
        path: "/v1/accounts/{account_id}/policy",
        function: "set-policy",
    },
    Route {
        id: RouteId::PutDeviceGroup,
        method: "PUT",
        path: "/v1/accounts/{account_id}/device-groups/{group}",
        function: "set-policy",
    },
    Route {
        id: RouteId::Preflight,
        method: "GET",
        path: "/v1/accounts/{account_id}/policy/preflight",
        function: "account-admin",
    },
    Route {
        id: RouteId::Events,
        method: "GET",
        path: "/v1/accounts/{account_id}/events",
        function: "account-admin",
    },
    Route {
        id: RouteId::AdminResetDevice,
        method: "POST",
        path: "/v1/accounts/{account_id}/users/{user_id}/device/reset",
        function: "account-admin",
    },
];

/// Why no route matched.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRoute {
    /// No route has this path.
    NotFound,
    /// The path exists with other methods (listed for `Allow`).
    MethodNotAllowed(Vec<&'static str>),
}

/// The route for `method` and `path`, with the path's `{name}` segments in template order.
///
/// # Errors
/// [`NoRoute`] when nothing matches.
pub fn match_route(method: &str, path: &str) -> Result<(RouteId, Vec<String>), NoRoute> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut allowed = Vec::new();
    for route in ROUTES {
        if let Some(params) = match_path(route.path, path) {
            if route.method.eq_ignore_ascii_case(method) {
                return Ok((route.id, params));
            }
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Err(NoRoute::NotFound)
    } else {
        Err(NoRoute::MethodNotAllowed(allowed))
    }
}

fn match_path(template: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                let ok = ps.len() <= 128
                    && ps.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                    && ps
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                if !ok {
                    return None;
                }
                params.push(ps.to_owned());
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates_and_methods() {
        assert_eq!(
            match_route("POST", "/v1/sign-in"),
            Ok((RouteId::SignIn, vec![]))
        );
        assert_eq!(
            match_route("PUT", "/v1/accounts/acc_1/device-groups/default"),
            Ok((
                RouteId::PutDeviceGroup,
                vec!["acc_1".to_owned(), "default".to_owned()]
            ))
        );
        assert_eq!(
            match_route("GET", "/v1/sign-in"),
            Err(NoRoute::MethodNotAllowed(vec!["POST"]))
        );
        assert_eq!(match_route("GET", "/v1/nope"), Err(NoRoute::NotFound));
        assert_eq!(
            match_route("GET", "/v1/accounts/../policy"),
            Err(NoRoute::NotFound)
        );
    }
}
