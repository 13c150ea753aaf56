"""vizlib: the helper library of the virtualization course.

Data flows one way: models (`vizlib.sim`, `vizlib.machine`) -> pictures (`vizlib.diagrams`,
`vizlib.plots`) -> widgets (`vizlib.widgets`) -> notebooks. Models never import display code.
"""

__version__ = "0.1.0"
