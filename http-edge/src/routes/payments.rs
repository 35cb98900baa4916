//! `GET /payments` (the owner's) and `GET /payments/{orderId}` (the
//! order's customer and the owner: a customer's request first asks the
//! order's shard whether the order is theirs, so another customer's order
//! is missing here too).

use futures_util::future::join_all;
use kukka_actors::{
    order::messages::{ByOrder, OrderMsg},
    payment::{messages::PaymentMsg, model::Payment},
    runtime::{
        error::ServiceError, groups::PAYMENT_SHARDS, paging::ListQuery, rpc::rpc, wire::Wire,
    },
};
use warp::{filters::BoxedFilter, reply::Response, Filter};

use super::with_state;
use crate::{
    auth::{credentials, Access, Caller, Credentials},
    correlation::correlation_id,
    error::ApiError,
    pagination::{list_params, merge_shards, ListParams},
    respond,
    state::EdgeState,
};

/// The payment routes.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let list = warp::path!("payments")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state.clone()))
        .and(list_params())
        .then(list);
    let get = warp::path!("payments" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state))
        .then(get);
    list.or(get).unify().boxed()
}

fn payment_nodes(state: &EdgeState) -> Result<Vec<ractor::ActorRef<PaymentMsg>>, ApiError> {
    let nodes = state.ns.all::<PaymentMsg>(PAYMENT_SHARDS);
    if nodes.is_empty() {
        return Err(ServiceError::unavailable("no payment node is joined").into());
    }
    Ok(nodes)
}

async fn list(
    state: EdgeState,
    cid: String,
    creds: Credentials,
    params: Result<ListParams, ApiError>,
) -> Response {
    let result = async {
        Access::Owner.admit(creds)?;
        let params = params?;
        let limit = params.limit()?;
        let after = params.shard_cursor()?;
        let calls = payment_nodes(&state)?.into_iter().map(|node| {
            let q = ListQuery {
                after: after.clone(),
                limit,
            };
            let timeout = state.settings.call_timeout;
            async move {
                rpc(
                    &node,
                    move |port| PaymentMsg::List(Wire::new(q), port),
                    timeout,
                )
                .await
            }
        });
        let mut pages = Vec::new();
        for r in join_all(calls).await {
            pages.push(r?);
        }
        Ok::<_, ApiError>(merge_shards(pages, after, limit, |p: &Payment| {
            (p.created_at.clone(), p.id.clone())
        }))
    }
    .await;
    respond::result(result, &cid)
}

/// The payment of an order: asks every payment node; the one that charged
/// it answers.
async fn get(id: String, state: EdgeState, cid: String, creds: Credentials) -> Response {
    let result = async {
        let caller = Access::CustomerOrOwner.admit(creds)?;
        let order_id = super::orders::parse_order_id(&id)?;
        if let Caller::Customer(_) = caller {
            // Not theirs (or no such order): missing, as the order is.
            super::orders::to_owner(&state, &cid, caller, &id, OrderMsg::Get).await?;
        }
        let calls = payment_nodes(&state)?.into_iter().map(|node| {
            let q = ByOrder {
                correlation_id: cid.clone(),
                order_id,
                customer: None,
                traceparent: None,
            };
            let timeout = state.settings.call_timeout;
            async move {
                rpc(
                    &node,
                    move |port| PaymentMsg::Get(Wire::new(q), port),
                    timeout,
                )
                .await
            }
        });
        let mut failure = None;
        for r in join_all(calls).await {
            match r {
                Ok(p) => return Ok(p),
                Err(ServiceError::NotFound { .. }) => {}
                Err(e) => failure = Some(e),
            }
        }
        Err::<Payment, ApiError>(
            failure
                .unwrap_or(ServiceError::NotFound {
                    what: format!("payment for order {order_id}"),
                })
                .into(),
        )
    }
    .await;
    respond::result(result, &cid)
}
