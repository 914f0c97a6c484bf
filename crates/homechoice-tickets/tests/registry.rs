//! The registry holds exactly the providers whose features are on, and names the feature to
//! enable for the ones that are off.

use homechoice_tickets::{
    enabled_first_party_providers, find_descriptor, registered_names, ErrorKind,
    FIRST_PARTY_PROVIDERS,
};

#[test]
fn registry_names_equal_the_enabled_provider_features() {
    assert_eq!(registered_names(), enabled_first_party_providers());
}

#[test]
fn a_first_party_provider_that_is_off_names_its_feature() {
    for (name, feature) in FIRST_PARTY_PROVIDERS {
        match find_descriptor(name) {
            Ok(d) => assert!(enabled_first_party_providers().contains(&d.name)),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Config);
                assert!(e.to_string().contains(feature), "{e}");
            }
        }
    }
}

#[test]
fn an_unknown_provider_lists_the_registered_ones() {
    let err = find_descriptor("jira").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    for name in registered_names() {
        assert!(err.to_string().contains(name), "{err}");
    }
}
