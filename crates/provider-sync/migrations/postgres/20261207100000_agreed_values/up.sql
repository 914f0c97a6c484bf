-- The custom field values and labels both sides last agreed on, as JSON:
-- {"fields": {"<name>": {"kind": "enum", "elements": ["S1"]} | null, ...}, "labels": [...]}.
-- A field missing from "fields", or "labels" missing, is not known; NULL: nothing known.
ALTER TABLE def_asana_sync ADD COLUMN agreed_values TEXT;
