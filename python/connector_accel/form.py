"""The setup form Fivetran's UI shows for this connector (the SDK's `configuration_form()`, packed by
`fivetran package` as configuration_form.pb), and its setup test: connect and discover the selected tables.

The fields are defined once, in the Rust core (`connector_accel_core::form`), for this form and the Partner SDK
server's: field names are the configuration keys; secrets are password fields; the TLS modes and the emit path are
dropdowns listing exactly the values the configuration accepts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from fivetran_connector_sdk import ConfigurationForm, Test, form_field

if TYPE_CHECKING:
    from connector_accel._core import FormField

TEST_LABEL = "Connect and discover the selected tables"


def _field(spec: FormField):
    """One field of the form's one definition (the Rust core's, shared with the Partner SDK server) as the SDK's."""
    name, label, description = spec["name"], spec["label"], spec["description"]
    if spec["kind"] == "dropdown":
        options = [form_field.DropdownFieldParam(value=v, label=v, description=d) for v, d in spec["options"]]
        return form_field.DropdownField(name, label, description=description, fields=options)
    if spec["kind"] == "toggle":
        return form_field.ToggleField(name, label, description=description)
    kind = form_field.TextField.password if spec["secret"] else form_field.TextField.plain_text
    return form_field.TextField(name, label, kind, description=description, required=spec["required"],
                                placeholder=spec["placeholder"])


def fields(source: str) -> list:
    """The form's fields for `source` ("postgres", "sqlserver" or "snowflake")."""
    from connector_accel._core import form_fields

    return [_field(spec) for spec in form_fields(source)]


def connection_test(configuration: dict):
    """Connects with the form's values and discovers the selected tables: a typo in a key, a wrong password or an
    empty selection fails here, before the first sync."""
    from connector_accel._core import Source

    try:
        tables, _ = Source(configuration).discover()
    except Exception as e:  # every failure is a message for the setup screen
        return Test.failure(str(e))
    if not tables:
        return Test.failure("connected, but no table is selected; check 'schemas', 'tables' and 'exclude_tables'")
    return Test.success()


def configuration_form(source: str) -> ConfigurationForm:
    """The form for `source` ("postgres", "sqlserver" or "snowflake")."""
    form = ConfigurationForm()
    for field in fields(source):
        form.add_field(field)
    form.add_test(label=TEST_LABEL, func=connection_test)
    return form
