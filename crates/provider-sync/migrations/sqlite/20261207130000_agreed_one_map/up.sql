-- Every value both sides last agreed on, as one JSON object: field name -> stored value, in
-- the form ticket_provider_api::field_set declares ({"subject": "S", "status": "NEW",
-- "assignee": null, "fields.severity": {"kind": "enum", "elements": ["S1"]}, "labels": [..]}).
-- A field that is absent is not known. NULL: the link was written before this column, and its
-- agreed values are in the columns agreed_subject ... agreed_values (read, never written).
ALTER TABLE def_asana_sync ADD COLUMN agreed TEXT;
