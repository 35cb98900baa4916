//! `GET /payments`, `GET /payments/{orderId}`.

use futures_util::future::join_all;
use kukka_actors::{
    order::messages::ByOrder,
    payment::{messages::PaymentMsg, model::Payment},
    runtime::{
        error::ServiceError, groups::PAYMENT_SHARDS, paging::ListQuery, rpc::rpc, wire::Wire,
    },
};
use warp::{filters::BoxedFilter, reply::Response, Filter};

use super::with_state;
use crate::{
    correlation::correlation_id,
    error::ApiError,
    pagination::{merge_shards, ListParams},
    respond,
    state::EdgeState,
};

/// The payment routes.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let list = warp::path!("payments")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(warp::query::<ListParams>())
        .then(list);
    let get = warp::path!("payments" / String)
        .and(warp::get())
        .and(with_state(state))
        .and(correlation_id())
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

async fn list(state: EdgeState, cid: String, params: ListParams) -> Response {
    let result = async {
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
async fn get(id: String, state: EdgeState, cid: String) -> Response {
    let result = async {
        let order_id = super::orders::parse_order_id(&id)?;
        let calls = payment_nodes(&state)?.into_iter().map(|node| {
            let q = ByOrder {
                correlation_id: cid.clone(),
                order_id,
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
