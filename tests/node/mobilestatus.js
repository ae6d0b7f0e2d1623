// One MobileStatus call through Tencent's Node.js SDK, as another team would make it against the
// simulator: node mobilestatus.js ENDPOINT MOBILE [GET|POST]. Prints the reply (or the SDK's error) as JSON.
const tencentcloud = require("tencentcloud-sdk-nodejs/tencentcloud/services/faceid");

const [endpoint, mobile, method = "POST"] = process.argv.slice(2);
const Client = tencentcloud.faceid.v20180301.Client;
const client = new Client({
  credential: {
    secretId: process.env.TENCENTCLOUD_SECRET_ID,
    secretKey: process.env.TENCENTCLOUD_SECRET_KEY,
  },
  region: "",
  profile: { httpProfile: { endpoint, protocol: "http://", reqMethod: method } },
});

client.MobileStatus({ Mobile: mobile }).then(
  (reply) => console.log(JSON.stringify({ reply })),
  (error) => console.log(JSON.stringify({ error: { code: error.code, message: error.message } })),
);
