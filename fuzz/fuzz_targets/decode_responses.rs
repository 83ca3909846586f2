//! Decoding of Table API, CI/CD progress, batch and token responses: no panic on
//! any input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<serde_json::Value>(data);
    let _ = serde_json::from_slice::<servicenow_client::roles::UserRoleGrant>(data);
    let _ = serde_json::from_slice::<servicenow_client::cors::CorsRule>(data);
    let _ = serde_json::from_slice::<servicenow_client::openframe::OpenFrameConfiguration>(data);
    let _ = serde_json::from_slice::<servicenow_client::plugins::Plugin>(data);
    let _ = serde_json::from_slice::<servicenow_client::plugins::Progress>(data);
    let _ = serde_json::from_slice::<servicenow_client::wire::Reference>(data);
    let _ = serde_json::from_slice::<bpsn_core::LenientTokenResponse>(data);
    let _ = servicenow_client::batch::decode_answer_for_fuzzing(http::Method::GET, "/api/now/table/sys_user", data);
    let _ = servicenow_client::batch::decode_answer_for_fuzzing(http::Method::POST, "/api/now/table/sys_user", data);
});
