//! Property tests: status and priority parsing round-trips, and config parsing never panics.

use proptest::prelude::*;
use ticket_provider_api::{Config, ErrorKind, Priority, Status};

/// Re-spells a canonical name the ways users type it: random case, `_` as `_`, `-` or ` `.
fn spelling(name: &'static str) -> impl Strategy<Value = String> {
    let n = name.len();
    (
        proptest::collection::vec(any::<bool>(), n),
        prop_oneof![Just('_'), Just('-'), Just(' ')],
    )
        .prop_map(move |(upper, sep)| {
            name.chars()
                .zip(upper)
                .map(|(c, u)| match c {
                    '_' => sep,
                    c if u => c.to_ascii_uppercase(),
                    c => c.to_ascii_lowercase(),
                })
                .collect()
        })
}

proptest! {
    #[test]
    fn every_spelling_of_a_status_parses_to_it(
        (status, s) in (0usize..8).prop_flat_map(|i| (Just(Status::ALL[i]), spelling(Status::ALL[i].as_str())))
    ) {
        prop_assert_eq!(s.parse::<Status>().unwrap(), status);
        prop_assert_eq!(status.to_string().parse::<Status>().unwrap(), status);
        prop_assert_eq!(status.title().parse::<Status>().unwrap(), status);
        let json = serde_json::to_string(&status).unwrap();
        prop_assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
    }

    #[test]
    fn status_parsing_never_panics_and_only_accepts_known_names(s in any::<String>()) {
        match s.parse::<Status>() {
            Ok(st) => {
                let folded: String = s.trim().chars()
                    .map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_uppercase() })
                    .collect();
                prop_assert_eq!(folded, st.as_str());
            }
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
                prop_assert!(e.to_string().contains("IN_PROGRESS"));
            }
        }
    }

    #[test]
    fn priority_round_trips_in_any_case(idx in 0usize..4, upper in proptest::collection::vec(any::<bool>(), 6)) {
        let p = Priority::ALL[idx];
        let s: String = p.as_str().chars().zip(upper.iter().cycle())
            .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert_eq!(s.parse::<Priority>().unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        prop_assert_eq!(serde_json::from_str::<Priority>(&json).unwrap(), p);
    }

    #[test]
    fn priority_parsing_never_panics(s in any::<String>()) {
        if let Err(e) = s.parse::<Priority>() {
            prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn config_parsing_never_panics_on_arbitrary_text(s in any::<String>()) {
        if let Err(e) = Config::parse(&s, "prop.yaml") {
            prop_assert_eq!(e.kind(), ErrorKind::Config);
            prop_assert!(e.to_string().contains("prop.yaml"));
        }
    }

    #[test]
    fn config_parsing_never_panics_on_yaml_shaped_input(
        key in prop_oneof![
            Just("provider"), Just("asana_project"), Just("database_url"), Just("asana_base_url"),
            Just("asana_sections"), Just("asana_priority_tags"), Just("asana_requests_per_minute"),
            Just("database_pool_size"), Just("providers"), Just("unknown_key"),
        ],
        value in prop_oneof![
            Just("".to_string()), Just("null".to_string()), Just("[1, 2]".to_string()),
            Just("{a: b}".to_string()), Just("-1".to_string()), Just("99999999999999999999".to_string()),
            Just("\"\\u0000\"".to_string()), "[a-zA-Z0-9:/._ -]{0,40}",
        ],
    ) {
        let text = format!("homechoice:\n  ticket:\n    {key}: {value}\n");
        match Config::parse(&text, "prop.yaml") {
            Ok(cfg) => prop_assert!(!cfg.ticket.provider.is_empty()),
            Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Config),
        }
    }
}
