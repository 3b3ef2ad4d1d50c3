//! The charts under helm/ are what gen-charts makes of the current spec.yaml files (a plugin
//! that changes its spec, or lands one, regenerates them: `cargo run -p shipping --bin gen-charts`).
//! Rendering, schema and golden checks of the charts themselves are in scripts/test-charts.

use shipping::{charts, spec::PluginSpec, workspace_dir};

#[test]
fn charts_are_generated_from_the_current_specs() {
    let ws = workspace_dir();
    let specs = PluginSpec::load_all(&ws).unwrap_or_else(|e| panic!("{e}"));
    let files = charts::all(&specs);
    let stale = charts::stale(&ws.join("helm"), &files);
    assert!(
        stale.is_empty(),
        "out of date (run `cargo run -p shipping --bin gen-charts`, then `UPDATE_GOLDEN=1 scripts/test-charts`): {stale:?}"
    );
    for s in &specs {
        assert!(
            files.iter().any(|f| f.path.starts_with(&s.name)),
            "{} has no chart",
            s.name
        );
    }
}

#[test]
fn every_plugin_chart_defaults_to_its_default_config_and_oci() {
    for s in PluginSpec::load_all(&workspace_dir()).unwrap() {
        let values: serde_json::Value = serde_norway::from_str(
            &std::fs::read_to_string(
                workspace_dir()
                    .join("helm")
                    .join(&s.name)
                    .join("values.yaml"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            values["defaultConfig"],
            charts::default_config(&s),
            "{}",
            s.name
        );
        assert!(values["image"]["repository"]
            .as_str()
            .unwrap()
            .starts_with("oci://"));
        assert_eq!(values["image"]["url"], "");
    }
}
