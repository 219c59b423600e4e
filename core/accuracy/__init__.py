"""Accuracy assessment and area estimation after Olofsson et al. (2014): no Qt, no QGIS.

- :mod:`.maps`: what a classified raster holds (classes, colours, pixel counts per class, provenance);
- :mod:`.design`: sample size, allocation and sample points (stratified, simple random, systematic), written to
  a GeoPackage with an empty reference field (the one call; the parts: :mod:`.allocation`, :mod:`.sampling`,
  :mod:`.sample_file`);
- :mod:`.reference`: labels from that GeoPackage, or an existing reference (points, polygons or a raster);
- :mod:`.estimators`: error matrix in counts and area proportions, accuracies and area-adjusted class areas
  with standard errors and 95 % confidence intervals;
- :mod:`.analysis`: the labels against a map (its own or another), the estimates;
- :mod:`.report`: JSON, CSV (:mod:`.report_csv`) and an HTML report (:mod:`.report_html`).

Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A. (2014). Good practices
for estimating area and assessing accuracy of land change. Remote Sensing of Environment 148, 42-57.
"""

from .errors import AssessmentError

__all__ = ["AssessmentError"]
