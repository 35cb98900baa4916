//! The read models, served straight from Redis: `GET /myPages[/{orderId}]`
//! (a customer's own entries, or all of them for the owner) and
//! `GET /orderDetails[/{orderId}]` and `GET /deliveries/{orderId}` (the
//! owner's).

use kukka_actors::{
    runtime::error::ServiceError,
    views::reads::{my_pages_of, Collection},
};
use warp::{filters::BoxedFilter, reply::Response, Filter};

use super::with_state;
use crate::{
    auth::{credentials, Access, Caller, Credentials},
    correlation::correlation_id,
    error::ApiError,
    pagination::{hex, list_params, ListBody, ListParams},
    respond,
    state::EdgeState,
};

/// Who may read a collection: MyPage is also its customers'.
fn access(c: Collection) -> Access {
    match c {
        Collection::MyPages => Access::CustomerOrOwner,
        Collection::OrderDetails | Collection::Deliveries => Access::Owner,
    }
}

/// The view routes.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let one = |name: &'static str, c: Collection| {
        warp::path(name)
            .and(warp::path::param::<String>())
            .and(warp::path::end())
            .and(warp::get())
            .and(with_state(state.clone()))
            .and(correlation_id())
            .and(credentials(state.clone()))
            .then(
                move |id: String, state: EdgeState, cid: String, creds: Credentials| {
                    get_one(state, cid, creds, id, c)
                },
            )
            .boxed()
    };
    let all = |name: &'static str, c: Collection| {
        warp::path(name)
            .and(warp::path::end())
            .and(warp::get())
            .and(with_state(state.clone()))
            .and(correlation_id())
            .and(credentials(state.clone()))
            .and(list_params())
            .then(
                move |state: EdgeState, cid: String, creds: Credentials, p| {
                    list_collection(state, cid, creds, p, c)
                },
            )
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

async fn get_one(
    state: EdgeState,
    cid: String,
    creds: Credentials,
    id: String,
    c: Collection,
) -> Response {
    let result = async {
        let caller = access(c).admit(creds)?;
        let mut conn = state.redis.clone();
        // Another customer's entry is missing, exactly as an unknown one.
        match c
            .get_visible(&mut conn, state.partitions, &id, caller.only_orders_of())
            .await?
        {
            Some(v) => Ok(v),
            None => Err(ApiError::from(ServiceError::NotFound {
                what: format!("order {id}"),
            })),
        }
    }
    .await;
    respond::result(result, &cid)
}

/// One page of a Redis-held collection: for a customer, MyPage lists only
/// their own entries.
pub async fn list_collection(
    state: EdgeState,
    cid: String,
    creds: Credentials,
    params: Result<ListParams, ApiError>,
    c: Collection,
) -> Response {
    let result = async {
        let caller = access(c).admit(creds)?;
        let params = params?;
        let limit = params.limit()?;
        let cursor = params.cursor()?;
        let mut conn = state.redis.clone();
        let page = match caller {
            Caller::Customer(customer) => {
                my_pages_of(
                    &mut conn,
                    state.partitions,
                    &customer,
                    cursor.as_deref(),
                    limit,
                )
                .await?
            }
            Caller::Owner | Caller::Anonymous => {
                c.list(&mut conn, state.partitions, cursor.as_deref(), limit)
                    .await?
            }
        };
        Ok::<_, ApiError>(ListBody {
            items: page.items,
            next_cursor: page.next_cursor.as_deref().map(hex),
        })
    }
    .await;
    respond::result(result, &cid)
}
