//! `GET /deliveries` (read from Redis) and `POST /deliveries` (the shop
//! owner's action, sent to a delivery node): both the owner's only.

use kukka_actors::{
    delivery::messages::{DeliveryMsg, DeliveryUpdate},
    runtime::{error::ServiceError, groups::DELIVERY_DESKS, rpc::rpc, wire::Wire},
    views::reads::Collection,
};
use serde_json::Value;
use warp::{filters::BoxedFilter, reply::Response, Filter};

use super::{views::list_collection, with_state};
use crate::{
    auth::{credentials, Access, Credentials},
    body::json_body,
    correlation::correlation_id,
    error::ApiError,
    pagination::{list_params, ListParams},
    respond,
    state::EdgeState,
};

/// The delivery routes.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let limit = state.settings.body_limit;
    let list = warp::path!("deliveries")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state.clone()))
        .and(list_params())
        .then(
            |state: EdgeState,
             cid: String,
             creds: Credentials,
             params: Result<ListParams, ApiError>| async move {
                list_collection(state, cid, creds, params, Collection::Deliveries).await
            },
        );
    let update = warp::path!("deliveries")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state))
        .and(json_body(limit))
        .then(update);
    list.or(update).unify().boxed()
}

#[tracing::instrument(skip_all, fields(correlation_id = %cid))]
async fn update(
    state: EdgeState,
    cid: String,
    creds: Credentials,
    body: Result<Value, ApiError>,
) -> Response {
    let result = async {
        Access::Owner.admit(creds)?;
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
