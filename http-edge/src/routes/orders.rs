//! `POST /orders`, `GET /orders`, `GET /orders/{id}`, `POST /orders/{id}/cancel`.
//!
//! Placing an order is open to anyone: without a customer token (or with
//! the owner's) it makes a new customer, whose token the answer carries as
//! `customerToken`; with a customer token it places the order for that
//! customer (and answers the same token). One order's routes are for its
//! customer and the owner: the order shard answers another customer's
//! order as missing. The list is the owner's.

use futures_util::future::join_all;
use kukka_actors::{
    order::{
        customer::CustomerId,
        id::OrderId,
        idempotency::{shard_for, KeyScope},
        messages::{ByOrder, OrderMsg, PlaceOrder},
        model::Order,
        new_order::NewOrder,
    },
    runtime::{
        error::{Reply, ServiceError},
        groups::{order_shard, Namespace, ORDER_SHARDS},
        paging::ListQuery,
        rpc::rpc,
        wire::Wire,
    },
};
use ractor::RpcReplyPort;
use serde_json::Value;
use warp::{filters::BoxedFilter, http::HeaderMap, reply::Response, Filter};

use super::with_state;
use crate::{
    auth::{credentials, Access, Caller, Credentials},
    body::json_body,
    correlation::correlation_id,
    error::ApiError,
    pagination::{list_params, merge_shards, ListBody, ListParams},
    respond,
    state::EdgeState,
};

/// The longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The order routes.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let limit = state.settings.body_limit;
    let place = warp::path!("orders")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state.clone()))
        .and(warp::header::headers_cloned())
        .and(json_body(limit))
        .then(place);
    let list = warp::path!("orders")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state.clone()))
        .and(list_params())
        .then(list);
    let get = warp::path!("orders" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state.clone()))
        .then(get);
    let cancel = warp::path!("orders" / String / "cancel")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(credentials(state))
        .then(cancel);
    place
        .or(list)
        .unify()
        .or(get)
        .unify()
        .or(cancel)
        .unify()
        .boxed()
}

/// An order as clients see it: without its customer's id.
pub fn public(order: &Order) -> Value {
    let mut v = serde_json::to_value(order).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("customerId");
    }
    v
}

/// The `Idempotency-Key` header: 1 to 200 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadHeader(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))
    };
    let text = v.to_str().map_err(|_| bad())?;
    if text.is_empty()
        || text.len() > MAX_IDEMPOTENCY_KEY
        || !text.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad());
    }
    Ok(Some(text.to_string()))
}

#[tracing::instrument(skip_all, fields(correlation_id = %cid))]
async fn place(
    state: EdgeState,
    cid: String,
    creds: Credentials,
    headers: HeaderMap,
    body: Result<Value, ApiError>,
) -> Response {
    // The access log has the request's outcome; the order node logs the order.
    match place_inner(&state, &cid, creds, &headers, body).await {
        Ok(order) => {
            tracing::debug!(order_id = %order.id, "order placed through the edge");
            let mut v = public(&order);
            if let Some(customer) = &order.customer_id {
                v["customerToken"] = Value::from(state.tokens.issue(customer));
            }
            respond::created(&v, &format!("/orders/{}", order.id), &cid)
        }
        Err(e) => e.into_response_with(&cid),
    }
}

async fn place_inner(
    state: &EdgeState,
    cid: &str,
    creds: Credentials,
    headers: &HeaderMap,
    body: Result<Value, ApiError>,
) -> Result<Order, ApiError> {
    let caller = Access::Anyone.admit(creds)?;
    let order = NewOrder::parse(&body?, &state.settings.catalog).map_err(ServiceError::from)?;
    let key = idempotency_key(headers)?;
    let (customer, scope) = match caller {
        Caller::Customer(c) => (c, KeyScope::Customer(c)),
        // Anyone else places it for a new customer.
        other => (CustomerId::random(), other.key_scope()),
    };
    let shard = match &key {
        // Every retry of a key goes to the shard that keeps it.
        Some(k) => {
            let s = shard_for(&scope, k, state.settings.order_shards);
            state.ns.pick::<OrderMsg>(&order_shard(s)).ok_or_else(|| {
                ServiceError::unavailable(format!(
                    "order shard {s}, which keeps this Idempotency-Key, is not reachable"
                ))
            })?
        }
        None => state
            .ns
            .pick::<OrderMsg>(ORDER_SHARDS)
            .ok_or_else(|| ServiceError::unavailable("no order node is joined"))?,
    };
    let req = PlaceOrder {
        correlation_id: cid.to_string(),
        order,
        customer: Some(customer),
        idempotency_key: key,
        key_scope: scope,
        traceparent: crate::correlation::current_traceparent(),
    };
    Ok(rpc(
        &shard,
        |port| OrderMsg::Place(Wire::new(req), port),
        state.settings.call_timeout,
    )
    .await?)
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
        let shards = state.ns.all::<OrderMsg>(ORDER_SHARDS);
        if shards.is_empty() {
            return Err(ServiceError::unavailable("no order node is joined").into());
        }
        let calls = shards.iter().map(|s| {
            let q = ListQuery {
                after: after.clone(),
                limit,
            };
            rpc(
                s,
                move |port| OrderMsg::List(Wire::new(q), port),
                state.settings.call_timeout,
            )
        });
        let mut pages = Vec::new();
        for r in join_all(calls).await {
            pages.push(r?);
        }
        let page = merge_shards(pages, after, limit, |o: &Order| {
            (o.created_at.clone(), o.id.to_string())
        });
        Ok::<ListBody<Value>, ApiError>(ListBody {
            items: page.items.iter().map(public).collect(),
            next_cursor: page.next_cursor,
        })
    }
    .await;
    respond::result(result, &cid)
}

/// An order id from a path: one that cannot be an order id is an unknown
/// order.
pub fn parse_order_id(id: &str) -> Result<OrderId, ApiError> {
    id.parse()
        .map_err(|_| ServiceError::not_found(format!("order {id}")).into())
}

/// The order shard that owns `order_id`.
pub fn owner_shard(
    ns: &Namespace,
    order_id: OrderId,
) -> Result<ractor::ActorRef<OrderMsg>, ApiError> {
    ns.pick::<OrderMsg>(&order_shard(order_id.shard()))
        .ok_or_else(|| {
            ServiceError::unavailable(format!("the shard of order {order_id} is not reachable"))
                .into()
        })
}

/// An [`OrderMsg`] variant about one order.
type ByOrderMsg = fn(Wire<ByOrder>, RpcReplyPort<Wire<Reply<Order>>>) -> OrderMsg;

/// Sends a request about one order, as `caller` sees it, to the shard that
/// owns it (a customer's request for another customer's order is answered
/// as missing there).
pub async fn to_owner(
    state: &EdgeState,
    cid: &str,
    caller: Caller,
    id: &str,
    build: ByOrderMsg,
) -> Result<Order, ApiError> {
    let order_id = parse_order_id(id)?;
    let shard = owner_shard(&state.ns, order_id)?;
    let q = ByOrder {
        correlation_id: cid.to_string(),
        order_id,
        customer: caller.only_orders_of(),
        traceparent: crate::correlation::current_traceparent(),
    };
    let timeout = state.settings.call_timeout;
    Ok(rpc(&shard, |port| build(Wire::new(q), port), timeout).await?)
}

async fn get(id: String, state: EdgeState, cid: String, creds: Credentials) -> Response {
    let result = async {
        let caller = Access::CustomerOrOwner.admit(creds)?;
        let order = to_owner(&state, &cid, caller, &id, OrderMsg::Get).await?;
        Ok::<_, ApiError>(public(&order))
    }
    .await;
    respond::result(result, &cid)
}

#[tracing::instrument(skip_all, fields(correlation_id = %cid, order_id = %id))]
async fn cancel(id: String, state: EdgeState, cid: String, creds: Credentials) -> Response {
    let result = async {
        let caller = Access::CustomerOrOwner.admit(creds)?;
        let order = to_owner(&state, &cid, caller, &id, OrderMsg::Cancel).await?;
        Ok::<_, ApiError>(public(&order))
    }
    .await;
    respond::result(result, &cid)
}
