//! Long operations say how far they are: a bulk grant reports its progress.

mod common;

use std::sync::{Arc, Mutex};

use brightpattern_servicenow::{Event, StepId};
use common::{builder, pair};

#[tokio::test(flavor = "multi_thread")]
async fn a_bulk_grant_reports_its_progress() {
    let p = pair().await;
    let users: Vec<String> = (0..1_200).map(|i| format!("bulk.agent.{i}")).collect();
    p.sn.insert_many(
        "sys_user",
        users
            .iter()
            .map(|u| serde_json::json!({"user_name": u, "active": "true"})),
    );
    let list = users
        .iter()
        .map(|u| format!("{u:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let seen = events.clone();
    let wf = builder(&p, &format!("[access]\nusers = [{list}]\n"))
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .build();
    wf.apply().await.unwrap();
    let progress: Vec<(u8, String)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::Progress {
                step,
                percent,
                message,
            } if *step == StepId::ACCESS => Some((*percent, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        progress.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [41, 83, 100],
        "{progress:?}"
    );
    assert_eq!(
        progress[2].1,
        "granting sn_openframe_user: 1200 of 1200 users"
    );
}
