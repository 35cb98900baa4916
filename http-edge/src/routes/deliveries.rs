//! `GET /deliveries` (read from Redis) and `POST /deliveries` (the shop
//! owner's action, sent to a delivery node; needs the owner's token).

use kukka_actors::{
    delivery::messages::{DeliveryMsg, DeliveryUpdate},
    runtime::{error::ServiceError, groups::DELIVERY_DESKS, rpc::rpc, wire::Wire},
    views::reads::Collection,
};
use serde_json::Value;
use warp::{filters::BoxedFilter, reply::Response, Filter};

use super::{views::list_collection, with_state};
use crate::{
    body::json_body, correlation::correlation_id, error::ApiError, pagination::ListParams, respond,
    state::EdgeState,
};

/// The delivery routes.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let limit = state.settings.body_limit;
    let list = warp::path!("deliveries")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(warp::query::<ListParams>())
        .then(
            |state: EdgeState, cid: String, params: ListParams| async move {
                list_collection(state, cid, params, Collection::Deliveries).await
            },
        );
    let update = warp::path!("deliveries")
        .and(warp::post())
        .and(with_state(state))
        .and(correlation_id())
        .and(warp::header::optional::<String>("authorization"))
        .and(json_body(limit))
        .then(update);
    list.or(update).unify().boxed()
}

/// Compares in time independent of where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// Checks `Authorization: Bearer <owner token>`.
pub fn authorize(state: &EdgeState, header: Option<&str>) -> Result<(), ApiError> {
    let given = header
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    match &state.settings.owner_token {
        Some(expected) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Forbidden),
        None => Err(ApiError::Forbidden),
    }
}

#[tracing::instrument(skip_all, fields(correlation_id = %cid))]
async fn update(
    state: EdgeState,
    cid: String,
    auth: Option<String>,
    body: Result<Value, ApiError>,
) -> Response {
    let result = async {
        authorize(&state, auth.as_deref())?;
        let body = body?;
        let field = |name: &str| -> Result<String, ApiError> {
            match body.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => {
                    Ok(s.trim().to_string())
                }
                Some(Value::Number(n)) if name == "orderId" => Ok(n.to_string()),
                _ => Err(ServiceError::Invalid {
                    field: name.into(),
                    message: "is required and must be a non-empty string".into(),
                }
                .into()),
            }
        };
        if !body.is_object() {
            return Err(ServiceError::Invalid {
                field: "body".into(),
                message: "must be a JSON object".into(),
            }
            .into());
        }
        let order_id = field("orderId")?;
        let status = field("status")?;
        let req = DeliveryUpdate {
            correlation_id: cid.clone(),
            order_id: order_id
                .parse()
                .map_err(|_| ServiceError::not_found(format!("delivery for order {order_id}")))?,
            status,
        };
        let node = state
            .ns
            .pick::<DeliveryMsg>(DELIVERY_DESKS)
            .ok_or_else(|| ServiceError::unavailable("no delivery node is joined"))?;
        Ok::<_, ApiError>(
            rpc(
                &node,
                |port| DeliveryMsg::Update(Wire::new(req), port),
                state.settings.call_timeout,
            )
            .await?,
        )
    }
    .await;
    respond::result(result, &cid)
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
