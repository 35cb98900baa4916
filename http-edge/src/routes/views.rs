//! The read models, served straight from Redis: `GET /myPages[/{orderId}]`
//! and `GET /orderDetails[/{orderId}]`.

use kukka_actors::{runtime::error::ServiceError, views::reads::Collection};
use warp::{filters::BoxedFilter, reply::Response, Filter};

use super::with_state;
use crate::{
    correlation::correlation_id,
    error::ApiError,
    pagination::{hex, ListBody, ListParams},
    respond,
    state::EdgeState,
};

/// The view routes.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let one = |name: &'static str, c: Collection| {
        warp::path(name)
            .and(warp::path::param::<String>())
            .and(warp::path::end())
            .and(warp::get())
            .and(with_state(state.clone()))
            .and(correlation_id())
            .then(move |id: String, state: EdgeState, cid: String| get_one(state, cid, id, c))
            .boxed()
    };
    let all = |name: &'static str, c: Collection| {
        warp::path(name)
            .and(warp::path::end())
            .and(warp::get())
            .and(with_state(state.clone()))
            .and(correlation_id())
            .and(warp::query::<ListParams>())
            .then(move |state: EdgeState, cid: String, p: ListParams| {
                list_collection(state, cid, p, c)
            })
            .boxed()
    };
    all("myPages", Collection::MyPages)
        .or(one("myPages", Collection::MyPages))
        .unify()
        .or(all("orderDetails", Collection::OrderDetails))
        .unify()
        .or(one("orderDetails", Collection::OrderDetails))
        .unify()
        .or(one("deliveries", Collection::Deliveries))
        .unify()
        .boxed()
}

async fn get_one(state: EdgeState, cid: String, id: String, c: Collection) -> Response {
    let mut conn = state.redis.clone();
    let result = match c.get(&mut conn, state.partitions, &id).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(ApiError::from(ServiceError::NotFound {
            what: format!("order {id}"),
        })),
        Err(e) => Err(e.into()),
    };
    respond::result(result, &cid)
}

/// One page of a Redis-held collection.
pub async fn list_collection(
    state: EdgeState,
    cid: String,
    params: ListParams,
    c: Collection,
) -> Response {
    let result = async {
        let limit = params.limit()?;
        let cursor = params.cursor()?;
        let mut conn = state.redis.clone();
        let page = c
            .list(&mut conn, state.partitions, cursor.as_deref(), limit)
            .await?;
        Ok::<_, ApiError>(ListBody {
            items: page.items,
            next_cursor: page.next_cursor.as_deref().map(hex),
        })
    }
    .await;
    respond::result(result, &cid)
}
