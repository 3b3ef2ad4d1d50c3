//! The scenario runner against the mock LLM itself (no gateway in front): the provider-side
//! checks work, and the plugin scenarios fail there, as they must without the plugins.

use shipping::scenarios::{all, Outcome, Target};

fn outcome(t: &Target, name: &str) -> Outcome {
    let s = all()
        .into_iter()
        .find(|s| s.name == name)
        .expect("scenario exists");
    (s.run)(t)
}

#[test]
fn mock_provider_without_gateway_passes_plain_scenarios_and_fails_plugin_ones() {
    let mock = mock_llm::spawn(mock_llm::Config::default()).expect("mock-llm");
    let t = Target::new(&mock.base_url(), Some(&mock.base_url()));
    assert_eq!(outcome(&t, "chat-passes-through"), Outcome::Passed);
    assert_eq!(outcome(&t, "fallback-served"), Outcome::Passed);
    for name in ["pii-masked", "cache-hit-on-repeat", "token-limit-429"] {
        assert!(
            matches!(outcome(&t, name), Outcome::Failed(_)),
            "{name} passed without the plugin"
        );
    }
    // Without the mock's control API the provider-side checks are skipped, never passed.
    let blind = Target::new(&mock.base_url(), None);
    assert!(matches!(outcome(&blind, "pii-masked"), Outcome::Skipped(_)));
}
