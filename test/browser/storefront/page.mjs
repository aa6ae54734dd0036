// A storefront's checkout step as Commerce Layer's React components build it: the order,
// its payment methods, the only one selected by the components themselves. Bundled by
// test/browser/storefront-components.test.ts; plain JavaScript, as a storefront ships it.
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { CommerceLayer, OrderContainer, PaymentMethod, PaymentMethodName, PaymentMethodsContainer } from '@commercelayer/react-components';

const { accessToken, endpoint, orderId } = window.storefront;

createRoot(document.getElementById('root')).render(
  h(
    CommerceLayer,
    { accessToken, endpoint },
    h(
      OrderContainer,
      { orderId },
      h(PaymentMethodsContainer, null, h(PaymentMethod, { autoSelectSinglePaymentMethod: true, activeClass: 'selected', className: 'payment-method' }, h(PaymentMethodName, null))),
    ),
  ),
);
