//! What the workflow tests share: a fake instance and a fake tenant, paired.
#![allow(dead_code, unreachable_pub)]

use brightpattern_fake::FakeTenant;
use servicenow_fake::FakeInstance;

/// A fake instance and a fake tenant.
pub struct Pair {
    pub sn: FakeInstance,
    pub bp: FakeTenant,
}

/// Three agents; `agent.3` is a member of the group "Agents".
pub async fn pair() -> Pair {
    let sn = FakeInstance::start().await;
    for u in ["agent.1", "agent.2", "agent.3"] {
        sn.add_user(u);
    }
    sn.add_group("Agents");
    sn.add_group_member("agent.3", "Agents");
    Pair {
        sn,
        bp: FakeTenant::start().await,
    }
}
