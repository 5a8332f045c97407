//! The pages Stripe shows people: Checkout (pay for a plan) and the
//! Customer Portal (change the plan, cancel at period end). Plain HTML
//! forms, so a browser or `curl -X POST` can use them.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
    Router,
};

use super::StripeDouble;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">\
         <p><em>Local Stripe double: no money moves.</em></p><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    ))
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

fn refused(e: &str) -> Response {
    (
        StatusCode::CONFLICT,
        page("Not possible", &format!("<p>{}</p>", escape(e))),
    )
        .into_response()
}

async fn checkout(State(d): State<StripeDouble>, Path(id): Path<String>) -> Response {
    let Some(s) = d.world().sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, page("No such checkout", "")).into_response();
    };
    let lines: String = s
        .prices
        .iter()
        .filter_map(|p| d.price(p))
        .map(|p| {
            let what = if p.metered {
                "usage, billed by the meter".to_owned()
            } else {
                format!(
                    "${}.{:02} per {}",
                    p.amount / 100,
                    p.amount % 100,
                    p.interval.as_str()
                )
            };
            format!("<li><code>{}</code>: {}</li>", escape(&p.id), what)
        })
        .collect();
    page(
        "Checkout",
        &format!(
            "<ul>{lines}</ul><form method=\"post\" action=\"/checkout/{id}/pay\">\
             <button>Pay with the test card 4242 4242 4242 4242</button></form>\
             <p><a href=\"{}\">Cancel</a></p>",
            escape(&s.cancel_url),
            id = escape(&id)
        ),
    )
    .into_response()
}

async fn pay(State(d): State<StripeDouble>, Path(id): Path<String>) -> Response {
    match d.complete_checkout(&id) {
        Ok(to) => see_other(&to),
        Err(e) => refused(&e),
    }
}

/// The customer's live subscription behind a portal session.
fn live(d: &StripeDouble, portal: &str) -> Option<(String, String)> {
    let (customer, return_url) = d.world().portals.get(portal).cloned()?;
    let subs = d.subscriptions_of(&customer);
    let w = d.world();
    let sub = subs.into_iter().rev().find(|s| {
        w.subscriptions
            .get(s)
            .is_some_and(|s| s.status != "canceled")
    });
    Some((sub.unwrap_or_default(), return_url))
}

async fn portal(State(d): State<StripeDouble>, Path(id): Path<String>) -> Response {
    let Some((sub, return_url)) = live(&d, &id) else {
        return (StatusCode::NOT_FOUND, page("No such portal session", "")).into_response();
    };
    let back = format!(
        "<p><a href=\"{}\">Back to the app</a></p>",
        escape(&return_url)
    );
    let w = d.world();
    let Some(s) = w.subscriptions.get(&sub) else {
        return page("Your plan", &format!("<p>No subscription.</p>{back}")).into_response();
    };
    let id = escape(&id);
    let switch: String = d
        .inner
        .prices
        .iter()
        .filter(|p| !p.metered && !s.prices.contains(&p.id))
        .map(|p| {
            format!(
                "<form method=\"post\" action=\"/portal/{id}/switch?price={p}\"><button>Switch to {p} now</button></form>\
                 <form method=\"post\" action=\"/portal/{id}/schedule?price={p}\"><button>Switch to {p} at the period's end</button></form>",
                p = escape(&p.id)
            )
        })
        .collect();
    let cancel = if s.cancel_at_period_end {
        format!("<p>Ends at the period's end.</p><form method=\"post\" action=\"/portal/{id}/resume\"><button>Keep the plan</button></form>")
    } else {
        format!("<form method=\"post\" action=\"/portal/{id}/cancel\"><button>Cancel at the period's end</button></form>")
    };
    page(
        "Your plan",
        &format!(
            "<p>{} — {} (prices: {})</p>{cancel}{switch}{back}",
            escape(&s.id),
            s.status,
            escape(&s.prices.join(", "))
        ),
    )
    .into_response()
}

async fn portal_action(
    State(d): State<StripeDouble>,
    Path((id, action)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some((sub, _)) = live(&d, &id) else {
        return (StatusCode::NOT_FOUND, page("No such portal session", "")).into_response();
    };
    let done = match action.as_str() {
        "cancel" => d.cancel_at_period_end(&sub, true),
        "resume" => d.cancel_at_period_end(&sub, false),
        "switch" => d.switch_price(&sub, q.get("price").map_or("", String::as_str)),
        "schedule" => d.schedule_price(&sub, q.get("price").map_or("", String::as_str)),
        _ => Err("unknown action".into()),
    };
    match done {
        Ok(()) => see_other(&format!("/portal/{id}")),
        Err(e) => refused(&e),
    }
}

pub fn router(d: StripeDouble) -> Router {
    Router::new()
        .route("/checkout/{id}", get(checkout))
        .route("/checkout/{id}/pay", post(pay))
        .route("/portal/{id}", get(portal))
        .route("/portal/{id}/{action}", post(portal_action))
        .with_state(d)
}
