//! `PostgresSource`: a parsed configuration, its discovered catalog, and readers over its tables.

use super::reader::BatchReader;
use super::wait::wait;
use crate::config::Config;
use crate::error::Error;
use crate::model::{FivetranType, Table};
use crate::postgres::{connect, discover, read};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Catalog = Arc<Vec<Arc<Table>>>;

/// A PostgreSQL source, made from a configuration dict (values as strings, as Fivetran passes them).
#[pyclass(frozen, module = "connector_accel._core")]
pub struct PostgresSource {
    config: Config,
    warnings: Vec<String>,
    catalog: Mutex<Option<(Catalog, Vec<String>)>>,
}

/// Configuration values as strings: Fivetran sends strings; a library user may pass numbers or booleans.
fn as_strings(configuration: &Bound<'_, PyDict>) -> PyResult<BTreeMap<String, String>> {
    let mut raw = BTreeMap::new();
    for (k, v) in configuration.iter() {
        if v.is_none() {
            continue;
        }
        let text = if v.is_instance_of::<PyBool>() {
            if v.is_truthy()? {
                "true".to_string()
            } else {
                "false".to_string()
            }
        } else {
            v.str()?.to_string()
        };
        raw.insert(k.str()?.to_string(), text);
    }
    Ok(raw)
}

fn type_descriptor<'py>(py: Python<'py>, t: FivetranType) -> PyResult<Bound<'py, PyAny>> {
    Ok(match t {
        FivetranType::Decimal { precision, scale } => {
            let d = PyDict::new(py);
            d.set_item("type", "DECIMAL")?;
            d.set_item("precision", precision)?;
            d.set_item("scale", scale)?;
            d.into_any()
        }
        other => other.name().into_pyobject(py)?.into_any(),
    })
}

fn describe<'py>(py: Python<'py>, t: &Table) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("schema", &t.schema)?;
    d.set_item("table", &t.name)?;
    d.set_item("primary_key", &t.primary_key)?;
    d.set_item("row_estimate", t.row_estimate)?;
    d.set_item("resumable", read::resumable(t))?;
    let columns = PyDict::new(py);
    let source_types = PyDict::new(py);
    for c in &t.columns {
        columns.set_item(&c.name, type_descriptor(py, c.fivetran_type)?)?;
        source_types.set_item(&c.name, &c.source_type)?;
    }
    for f in &t.flat_columns {
        columns.set_item(&f.name, type_descriptor(py, f.fivetran_type)?)?;
    }
    d.set_item("columns", columns)?;
    d.set_item("source_types", source_types)?;
    Ok(d)
}

impl PostgresSource {
    fn catalog(&self, py: Python<'_>) -> PyResult<(Catalog, Vec<String>)> {
        if let Some(found) = self
            .catalog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(found.clone());
        }
        let config = self.config.clone();
        let (tables, warnings) = wait(py, async move {
            let client = connect::connect(&config.connection).await?;
            discover::discover(&client, &config).await
        })?;
        let found = (
            Arc::new(tables.into_iter().map(Arc::new).collect::<Vec<_>>()),
            warnings,
        );
        *self.catalog.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
        Ok(found)
    }
}

#[pymethods]
impl PostgresSource {
    #[new]
    fn new(configuration: &Bound<'_, PyDict>) -> PyResult<Self> {
        let (config, warnings) = Config::parse(&as_strings(configuration)?)?;
        Ok(PostgresSource {
            config,
            warnings,
            catalog: Mutex::new(None),
        })
    }

    /// Warnings about the configuration (unknown keys).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// Rows between checkpoints.
    #[getter]
    fn checkpoint_rows(&self) -> u64 {
        self.config.checkpoint_rows
    }

    /// Whether `debug` was set.
    #[getter]
    fn debug(&self) -> bool {
        self.config.debug
    }

    /// The selected tables, smallest first, as dicts (schema, table, primary_key, row_estimate, resumable,
    /// columns with Fivetran types, source_types), and the warnings discovery raised. Discovered once per source.
    fn discover<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, Vec<String>)> {
        let (tables, warnings) = self.catalog(py)?;
        let list = PyList::empty(py);
        for t in tables.iter() {
            list.append(describe(py, t)?)?;
        }
        Ok((list, warnings))
    }

    /// A reader of ready dict batches over `schema.table`, resuming after the key `after` when given.
    #[pyo3(signature = (schema, table, after=None, batch_size=None, queue_depth=2))]
    fn read(
        &self,
        py: Python<'_>,
        schema: &str,
        table: &str,
        after: Option<Vec<String>>,
        batch_size: Option<usize>,
        queue_depth: usize,
    ) -> PyResult<BatchReader> {
        let (tables, _) = self.catalog(py)?;
        let found = tables.iter().find(|t| t.schema == schema && t.name == table).cloned().ok_or_else(|| {
            Error::config("tables", format!("table '{schema}.{table}' is not among the selected tables; check 'tables' and 'schemas'"))
        })?;
        let columns: Vec<String> = found.columns.iter().map(|c| c.name.clone()).collect();
        let request = read::ReadRequest {
            table: found,
            after,
            batch_size: batch_size.unwrap_or(self.config.batch_size).max(1),
            queue_depth,
            flatten: self.config.flatten.clone(),
        };
        let receiver = {
            let _guard = crate::runtime::get().enter();
            read::spawn(self.config.connection.clone(), request)
        };
        BatchReader::new(py, receiver, &columns)
    }
}
