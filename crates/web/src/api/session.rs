use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use yunwei_store::users::User;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Auth, Ctx, JsonBody, SESSION_COOKIE};
use crate::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// Send it as `X-CSRF-Token` on state-changing requests made with the session cookie.
    pub csrf_token: String,
    pub user: User,
}

/// Sign in; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", security(()),
    request_body = LoginBody,
    responses((status = 201, body = SessionInfo), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(st): State<AppState>,
    ctx: Ctx,
    JsonBody(b): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    let s = st
        .app
        .login(&b.username, &b.password, ctx.ip.clone())
        .await
        .map_err(|e| ctx.err(e))?;
    let who = st
        .app
        .session(&s.secret, ctx.ip.clone())
        .await
        .map_err(|e| ctx.err(e))?
        .ok_or_else(|| ctx.code(yunwei_domain::ErrorCode::InternalError))?;
    let secure = if st.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let mut r = (
        StatusCode::CREATED,
        Json(SessionInfo {
            csrf_token: s.csrf_token,
            user: who.user,
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax{secure}",
        s.secret
    )) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(r)
}

/// Sign out: ends the session of the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(st): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    if let Some(h) = &auth.who.session_hash {
        st.app
            .logout(auth.actor(), h)
            .await
            .map_err(|e| auth.ctx.err(e))?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("yw_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
    );
    Ok(r)
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(auth: Auth) -> Json<User> {
    Json(auth.who.user)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 10 characters.
    pub new_password: String,
}

/// Change one's own password; ends one's other sessions.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "session", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = ErrorBody)))]
pub async fn change_password(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    st.app
        .change_password(
            auth.actor(),
            &b.current_password,
            &b.new_password,
            auth.who.session_hash.as_deref(),
        )
        .await
        .map_err(|e| auth.ctx.err(e))?;
    Ok(StatusCode::NO_CONTENT)
}
