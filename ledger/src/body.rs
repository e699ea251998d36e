//! Decoding a route's JSON body, with a message a caller can act on: it is what the 400
//! answer says and what `code24_runtime::ledger_client` quotes in its error.

use serde::de::DeserializeOwned;

use code24_shared::ledger::route::Route;

/// Decodes the body of `route` as `T`, or says what is wrong with it, naming the route and
/// the expected type (e.g. "body of /jobs/claim is not a ClaimRequest: missing field ...").
pub(crate) fn decode<T: DeserializeOwned>(route: Route, body: &[u8]) -> std::result::Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        let full = std::any::type_name::<T>();
        let short = full.rsplit("::").next().unwrap_or(full);
        format!("body of {} is not a {short}: {e}", route.path())
    })
}

#[cfg(test)]
mod tests {
    use code24_shared::ledger::{ClaimRequest, RecentRequest};

    use super::*;

    #[test]
    fn decode_errors_name_the_route_and_type() {
        let err = decode::<ClaimRequest>(Route::Claim, br#"{"claims": []}"#).unwrap_err();
        assert!(err.starts_with("body of /jobs/claim is not a ClaimRequest: missing field `now_ms`"), "{err}");
        let err = decode::<RecentRequest>(Route::Recent, b"not json").unwrap_err();
        assert!(err.starts_with("body of /sweeps/recent is not a RecentRequest: expected"), "{err}");
        assert_eq!(decode::<RecentRequest>(Route::Recent, br#"{"limit": 3}"#), Ok(RecentRequest { limit: 3 }));
    }
}
