//! The two cookies of a login (sessions.md §1): `access_token` for every route,
//! `refresh_token` only for `{p}/auth/token` (and `SameSite=Strict`), both HttpOnly and
//! `Secure` unless `COOKIE_SECURE=false`.

use crate::kernel::feature::Ctx;

pub const ACCESS_COOKIE: &str = "access_token";
pub const REFRESH_COOKIE: &str = "refresh_token";

fn secure(ctx: &Ctx<'_>) -> &'static str {
    if ctx.config.cookie_secure {
        " Secure;"
    } else {
        ""
    }
}

/// The path the refresh cookie is sent to.
pub fn refresh_path(ctx: &Ctx<'_>) -> String {
    format!("{}/auth/token", ctx.config.api_prefix)
}

pub fn access(ctx: &Ctx<'_>, token: &str, max_age: i64) -> String {
    format!(
        "{ACCESS_COOKIE}={token}; HttpOnly;{} SameSite=Lax; Path=/; Max-Age={max_age}",
        secure(ctx)
    )
}

pub fn refresh(ctx: &Ctx<'_>, token: &str, max_age: i64) -> String {
    format!(
        "{REFRESH_COOKIE}={token}; HttpOnly;{} SameSite=Strict; Path={}; Max-Age={max_age}",
        secure(ctx),
        refresh_path(ctx)
    )
}

pub fn clear_access(ctx: &Ctx<'_>) -> String {
    access(ctx, "", 0)
}

pub fn clear_refresh(ctx: &Ctx<'_>) -> String {
    refresh(ctx, "", 0)
}
