// The camera map of /register: one marker per camera, clustered, drawn without tiles unless the city set a
// tile URL. Popups are built from text nodes, never from markup, so nothing in the register can inject any.
(function () {
  'use strict';
  var element = document.getElementById('register-map');
  if (!element || typeof L === 'undefined') {
    return;
  }

  var tileUrl = element.getAttribute('data-tile-url');
  var map = L.map(element, { attributionControl: Boolean(tileUrl), maxZoom: 19 });
  if (tileUrl) {
    L.tileLayer(tileUrl, { attribution: element.getAttribute('data-tile-attribution') || '', maxZoom: 19 }).addTo(map);
  }

  function line(text, tag) {
    var node = document.createElement(tag || 'div');
    node.textContent = text;
    return node;
  }

  function popup(camera) {
    var box = document.createElement('div');
    box.appendChild(line(camera.code + ' ' + camera.name, 'strong'));
    box.appendChild(line(camera.place));
    box.appendChild(line('Owner: ' + camera.owner));
    box.appendChild(line('Purpose: ' + camera.purpose));
    box.appendChild(line('Face recognition: ' + (camera.faceRecognitionPossible ? (camera.inLiveUseNow ? 'possible, in use now' : 'possible') : 'not possible')));
    box.appendChild(line('Retention: ' + camera.retentionDays + ' days'));
    box.appendChild(line('Health: ' + camera.health));
    return box;
  }

  fetch(element.getAttribute('data-source'), { headers: { Accept: 'application/json' } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error('the register answered ' + response.status);
      }
      return response.json();
    })
    .then(function (cameras) {
      var points = cameras.map(function (c) { return [c.latitude, c.longitude]; });
      if (points.length > 0) {
        map.fitBounds(points, { maxZoom: 16, padding: [24, 24] });
      } else {
        map.setView([0, 0], 2);
      }

      var cluster = L.markerClusterGroup({ showCoverageOnHover: false });
      cameras.forEach(function (c) {
        var icon = L.divIcon({ className: c.faceRecognitionPossible ? 'camera-marker face' : 'camera-marker', iconSize: [18, 18] });
        var title = c.code + ' ' + c.name + ': face recognition ' + (c.faceRecognitionPossible ? 'possible' : 'not possible');
        var marker = L.marker([c.latitude, c.longitude], { icon: icon, title: title, alt: title, keyboard: true });
        marker.bindPopup(popup(c));
        cluster.addLayer(marker);
      });
      map.addLayer(cluster);
      element.setAttribute('data-markers', String(cameras.length));
    })
    .catch(function (error) {
      element.appendChild(line('The map could not be drawn: ' + error.message, 'p'));
      element.setAttribute('data-markers', 'error');
    });
})();
