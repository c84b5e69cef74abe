"""The Fivetran connector: schema() and update() come from connector_accel's Rust core."""
from connector_accel.sdk import schema, update
from fivetran_connector_sdk import Connector

connector = Connector(update=update, schema=schema)

if __name__ == "__main__":
    connector.debug()
