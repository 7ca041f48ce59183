// Runs face-api 1.7.15 itself (its bundled tfjs 4.22, pure-JS CPU backend) on photos
// given as binary PPM files (face_demo --save-rgb DIR writes them from the same JPEG
// decoder as the demo), through detectAllFaces(...).withFaceLandmarks()
// .withFaceDescriptors(), and prints the faces as JSON: the independent reference the
// demo's --faceapi option compares with.
//
//   node examples/face/faceapi_reference.cjs PACKAGE_DIR photo.ppm ... > faceapi.json
//
// PACKAGE_DIR is the extracted npm package (e.g. ~/.cache/sinter/face-api/package).
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const [pkg, ...photos] = process.argv.slice(2);
if (!pkg || photos.length === 0) {
  console.error('usage: node faceapi_reference.cjs PACKAGE_DIR photo.ppm ...');
  process.exit(2);
}
// The browser bundle (dist/face-api.js) carries tfjs; told it runs in a browser, tfjs
// skips its Node platform (which needs tfjs-node) and keeps the CPU backend.
globalThis.window = globalThis;
globalThis.document = { createElement: () => ({}) };
vm.runInThisContext(fs.readFileSync(path.join(pkg, 'dist', 'face-api.js'), 'utf8'));
const faceapi = globalThis.faceapi;
const tf = faceapi.tf;

// 9 significant digits: enough to give back every float32 exactly.
const short = (v) => Number(v.toPrecision(9));

function readPpm(file) {
  const buf = fs.readFileSync(file);
  const header = buf.toString('latin1', 0, 64).match(/^P6\s+(\d+)\s+(\d+)\s+255\s/);
  if (!header) throw new Error(`${file}: not a binary PPM with maxval 255`);
  const [all, w, h] = header;
  const data = buf.subarray(all.length, all.length + w * h * 3);
  return tf.tensor3d(Int32Array.from(data), [Number(h), Number(w), 3], 'int32');
}

function loadNet(net, name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'model', `${name}-weights_manifest.json`), 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(pkg, 'model', p)));
  }
  const all = Buffer.concat(buffers);
  net.loadFromWeightMap(tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.length), specs));
}

(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
  loadNet(faceapi.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
  loadNet(faceapi.nets.faceLandmark68Net, 'face_landmark_68_model');
  loadNet(faceapi.nets.faceRecognitionNet, 'face_recognition_model');
  const options = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  const out = { faceapi: faceapi.version, tfjs: tf.version_core, backend: tf.getBackend(), photos: [] };
  for (const file of photos) {
    const img = readPpm(file);
    const results = await faceapi.detectAllFaces(img, options).withFaceLandmarks().withFaceDescriptors();
    out.photos.push({
      photo: path.basename(file, '.ppm'),
      faces: results.map((r) => ({
        box: [r.detection.box.x, r.detection.box.y, r.detection.box.width, r.detection.box.height].map(short),
        score: short(r.detection.score),
        aligned: (() => {
          const a = r.landmarks.align(null, { useDlibAlignment: true });
          return [a.x, a.y, a.width, a.height];
        })(),
        descriptor: Array.from(r.descriptor, short),
      })),
    });
    img.dispose();
    console.error(`${path.basename(file)}: ${results.length} face(s)`);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  console.error(`faceapi_reference: ${e.stack || e.message}`);
  process.exit(1);
});
