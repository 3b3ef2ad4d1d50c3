//! Smoke test of the SDK glue: adds a response header taken from the rule-matched config.
//!
//! ```json
//! { "name": "x-served-by", "value": "gateway",
//!   "_rules_": [ { "_match_route_": ["chat"], "value": "chat-route" } ] }
//! ```

use std::rc::Rc;

use higress_sdk::{hostcalls, ConfigError, HeaderAction, HttpPlugin, Log, Plugin, PluginConfig};
use serde::Deserialize;

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_name")]
    name: String,
    #[serde(default)]
    value: String,
}

fn default_name() -> String {
    "x-higress-sdk".to_string()
}

impl PluginConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() || self.name.starts_with(':') {
            return Err(ConfigError::at(
                "name",
                "must be a non-empty regular header name",
            ));
        }
        Ok(())
    }
}

#[derive(Default)]
struct AddHeader;

struct AddHeaderHttp {
    config: Rc<Config>,
}

const LOG: Log = Log::new("add-header");

impl Plugin for AddHeader {
    const NAME: &'static str = "add-header";
    type Config = Config;
    type Http = AddHeaderHttp;

    fn create_http(&self, config: Rc<Config>, _context_id: u32) -> AddHeaderHttp {
        AddHeaderHttp { config }
    }
}

impl HttpPlugin for AddHeaderHttp {
    fn on_response_headers(&mut self, _end_of_stream: bool) -> HeaderAction {
        if let Err(e) = hostcalls::add_response_header(&self.config.name, &self.config.value) {
            LOG.warn(format_args!("cannot add {}: {e}", self.config.name));
        } else {
            LOG.debug(format_args!(
                "added {}: {}",
                self.config.name, self.config.value
            ));
        }
        HeaderAction::Continue
    }
}

higress_sdk::plugin!(AddHeader);
