//! A destination table's user columns and how they change to hold a batch: the one schema
//! evolution rule every destination follows (a new field adds a column, a type change widens
//! it, a column of only nulls creates nothing).

use crate::schema::ColumnType;

/// The user columns of a destination table, in table order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableSchema {
    /// `(name, type)` after the system columns.
    pub columns: Vec<(String, ColumnType)>,
}

impl TableSchema {
    /// The type of column `name`, if the table has it.
    pub fn get(&self, name: &str) -> Option<ColumnType> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }
}

/// A change of a table's columns.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A new column.
    Add(String, ColumnType),
    /// A column widened from one type to a wider one.
    Widen {
        /// The column.
        column: String,
        /// Its type until now.
        from: ColumnType,
        /// Its new type.
        to: ColumnType,
    },
}

/// The columns `current` must have to hold `incoming`, and the changes that lead there.
pub fn plan(
    current: &TableSchema,
    incoming: &[(String, ColumnType)],
) -> (TableSchema, Vec<Change>) {
    let mut target = current.clone();
    let mut changes = Vec::new();
    for (name, ty) in incoming {
        match target.columns.iter_mut().find(|(n, _)| n == name) {
            None if *ty == ColumnType::Null => {}
            None => {
                target.columns.push((name.clone(), *ty));
                changes.push(Change::Add(name.clone(), *ty));
            }
            Some((_, have)) => {
                let wide = have.widen(*ty);
                if wide != *have {
                    changes.push(Change::Widen {
                        column: name.clone(),
                        from: *have,
                        to: wide,
                    });
                    *have = wide;
                }
            }
        }
    }
    (target, changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::*;

    #[test]
    fn plan_adds_and_widens() {
        let current = TableSchema {
            columns: vec![("a".into(), Int64), ("b".into(), Utf8)],
        };
        let incoming = vec![
            ("a".to_string(), Float64),
            ("b".to_string(), Utf8),
            ("c".to_string(), Null),
            ("d".to_string(), Boolean),
        ];
        let (target, changes) = plan(&current, &incoming);
        assert_eq!(
            target.columns,
            vec![
                ("a".into(), Float64),
                ("b".into(), Utf8),
                ("d".into(), Boolean)
            ]
        );
        assert_eq!(
            changes,
            vec![
                Change::Widen {
                    column: "a".into(),
                    from: Int64,
                    to: Float64
                },
                Change::Add("d".into(), Boolean)
            ]
        );
        let (_, none) = plan(
            &target,
            &[("a".to_string(), Int64), ("b".to_string(), Null)],
        );
        assert!(none.is_empty());
        assert_eq!(target.get("a"), Some(Float64));
        assert_eq!(target.get("c"), None);
    }
}
