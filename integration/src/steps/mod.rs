//! One module per step of the procedure, each implementing [`Step`](crate::Step).

pub mod access;
pub mod cors;
pub mod integration_account;
pub mod oauth_endpoint;
pub mod openframe;
pub mod plugins;
pub mod properties;
pub mod store_app;

use std::sync::Arc;

use crate::spec::ResolvedSpec;
use crate::step::DynStep;

/// The built-in steps, in procedure order (the registry: a new built-in step
/// is one file here and one line below).
pub(crate) fn built_in() -> Vec<Arc<dyn DynStep>> {
    vec![
        Arc::new(plugins::PluginsStep),
        Arc::new(openframe::OpenFrameStep),
        Arc::new(access::AccessStep),
        Arc::new(cors::CorsStep),
        Arc::new(oauth_endpoint::OAuthEndpointStep),
        Arc::new(integration_account::IntegrationAccountStep),
    ]
}

/// The steps a spec needs: the built-in ones, then those only some specs
/// ask for (`[[properties]]`, `[store_app]`).
pub(crate) fn for_spec(spec: &ResolvedSpec) -> Vec<Arc<dyn DynStep>> {
    let mut steps = built_in();
    if !spec.properties.is_empty() {
        steps.push(Arc::new(properties::PropertiesStep));
    }
    if spec.store_app.is_some() {
        steps.push(Arc::new(store_app::StoreAppStep));
    }
    steps
}
