// Node entry: everything from the browser entry plus Node-only parts (file system, PNG/JPEG
// files). Importing it registers the file:// model save/load handler when none exists yet, and
// the local file access that lets the weight loaders read paths and use the disk cache.
import { registerFileHandler } from './io/fileHandler.js';
import { registerNodeFileAccess } from './io/nodeFiles.js';

export * from './index.js';

// --- Node-only: file:// IOHandler, image files, folder datasets ---
export { fileSystem, registerFileHandler, FILE_SCHEME } from './io/fileHandler.js';
export { fileByteSource } from './io/nodeFiles.js';
export { decodeImage, encodePng, encodeJpeg, readImage, writeImage, floatToRaw, type RawImage } from './data/images.js';
export {
  loadSegmentationDataset, loadSegmentationSamples, pairImageMaskFiles, rawToFloat,
  type LoadSegmentationDatasetOptions, type Normalization,
} from './data/loadDataset.js';

registerFileHandler();
registerNodeFileAccess();
